"""Host-side state of the invocation running on this thread.

A store runs on exactly one thread from instantiation to teardown, so host functions find the
invocation they serve through a thread-local rather than through wasmtime's store data, which
would need a lookup table and a lock.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyjinn.capabilities.base import FunctionHost, HostCall
    from pyjinn.engine.hostfunc import GuestMemory

_local = threading.local()


class InvocationContext:
    """What host functions need while one guest runs, and what they leave behind.

    ``calls`` is the invocation's record: every host call in order, with its arguments and its
    result or error; crash records and replay read it.
    """

    __slots__ = (
        "calls",
        "created_ns",
        "deadline",
        "deadline_ns",
        "host",
        "host_failure",
        "last_error",
        "memory",
        "pending",
        "tenant",
        "timed_out",
        "trace_id",
    )

    def __init__(
        self,
        timeout_ns: int,
        host: FunctionHost | None = None,
        tenant: str = "",
        trace_id: str = "",
    ) -> None:
        self.created_ns = time.monotonic_ns()
        # One clock for every limit: CLOCK_MONOTONIC, as the native watch reads it too.
        self.deadline_ns = self.created_ns + timeout_ns
        self.deadline = self.deadline_ns / 1e9
        self.timed_out = False
        # An exception raised by pyjinn's own host code: the invocation fails with blame "host".
        self.host_failure: BaseException | None = None
        self.host = host
        self.tenant = tenant
        self.trace_id = trace_id
        self.pending: bytes | None = None  # the result waiting for result_read
        self.last_error = ""
        self.calls: list[HostCall] = []
        self.memory: GuestMemory | None = None  # the guest's memory, once a host call needs it

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def current() -> InvocationContext:
    """The invocation running on this thread; only valid inside a host function."""
    context: InvocationContext = _local.context
    return context


def enter(context: InvocationContext) -> None:
    _local.context = context


def leave() -> None:
    context: InvocationContext | None = _local.context
    if context is not None:
        context.memory = None  # a view into memory the instance no longer owns
    _local.context = None
