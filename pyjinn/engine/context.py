"""Host-side state of the invocation running on this thread.

A store runs on exactly one thread from instantiation to teardown, so host functions find the
invocation they serve through a thread-local rather than through wasmtime's store data, which
would need a lookup table and a lock.
"""

from __future__ import annotations

import threading
import time

_local = threading.local()


class InvocationContext:
    """What host functions need while one guest runs: its deadline and what went wrong."""

    __slots__ = ("created_ns", "deadline", "host_failure", "timed_out")

    def __init__(self, timeout: float) -> None:
        self.created_ns = time.monotonic_ns()
        self.deadline = time.monotonic() + timeout
        self.timed_out = False
        # An exception raised by pyjinn's own host code: the invocation fails with blame "host".
        self.host_failure: BaseException | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def current() -> InvocationContext:
    """The invocation running on this thread; only valid inside a host function."""
    context: InvocationContext = _local.context
    return context


def enter(context: InvocationContext) -> None:
    _local.context = context


def leave() -> None:
    _local.context = None
