"""Host-side state of the invocation running on this thread.

A store runs on exactly one thread from instantiation to teardown, so host functions find the
invocation they serve through a thread-local rather than through wasmtime's store data, which
would need a lookup table and a lock.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyjinn.capabilities.base import FunctionHost, HostCall
    from pyjinn.engine.hostfunc import GuestMemory

_local = threading.local()
log = logging.getLogger("pyjinn.engine")

# One clock reading as both clocks log it: call (0 clock_time_get, 1 clock_res_get), errno,
# padding, clock id, value. The native clock writes the same 16 bytes.
CLOCK_ENTRY = struct.Struct("<BBxxIQ")
CLOCK_TIME_GET, CLOCK_RES_GET = 0, 1
# The most host calls, and bytes of their arguments and results, an invocation's record keeps.
MAX_RECORDED_CALLS = 100_000
MAX_RECORDED_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """How one ``poll_oneoff`` ended: the subscriptions that fired, each as (its index among
    the guest's subscriptions, errno, event type); or ``timed_out`` (the guest was stopped)."""

    subscriptions: int
    fired: tuple[tuple[int, int, int], ...] = ()
    timed_out: bool = False


class Replayer(Protocol):
    """Answers a replayed guest's nondeterministic WASI calls from a record (pyjinn.debug)."""

    def clock(self, call: int, clock_id: int) -> tuple[int, int]:
        """(errno, value) for a clock call; raises ``GuestTrap`` where the record disagrees."""
        ...

    def random(self, length: int) -> bytes: ...

    def poll(self, subscriptions: int) -> PollOutcome: ...


class Resource(Protocol):
    """Something a capability holds for one invocation (its locks) and lets go of when the
    guest has finished, however it finished."""

    def release(self) -> None: ...


class InvocationContext:
    """What host functions need while one guest runs, and what they leave behind.

    ``calls`` is the invocation's record: every host call in order, with its arguments and its
    result or error. ``randomness``, ``polls`` and ``clock_log`` are the nondeterministic inputs
    pyjinn's own WASI functions handed the guest (``clock_log`` only where the clock is served
    from Python; the native clock keeps its own). Crash records and replay read all of them;
    under replay (``replay`` set) those functions answer from the record instead.
    """

    __slots__ = (
        "calls",
        "calls_dropped",
        "calls_kept_bytes",
        "clock_log",
        "connection",
        "created_ns",
        "deadline",
        "deadline_cell",
        "deadline_ns",
        "host",
        "host_failure",
        "last_error",
        "memory",
        "pending",
        "polls",
        "randomness",
        "replay",
        "resources",
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
        replay: Replayer | None = None,
        connection: Any = None,
    ) -> None:
        self.created_ns = time.monotonic_ns()
        # One clock for every limit: CLOCK_MONOTONIC, as the native watch reads it too.
        self.deadline_ns = self.created_ns + timeout_ns
        self.deadline = self.deadline_ns / 1e9
        # The client connection the invocation holds for its life (pyjinn.websocket), if any.
        # Its host calls move the deadline (``move_deadline``), so the limits watch reads it
        # from this cell rather than from a copy taken at the start.
        self.connection = connection
        self.deadline_cell = None if connection is None else ctypes.c_int64(self.deadline_ns)
        self.timed_out = False
        # An exception raised by pyjinn's own host code: the invocation fails with blame "host".
        self.host_failure: BaseException | None = None
        self.host = host
        self.tenant = tenant
        self.trace_id = trace_id
        self.pending: bytes | None = None  # the result waiting for result_read
        self.last_error = ""
        self.calls: list[HostCall] = []
        # Host calls past the record's budget (``keep``) are counted, not kept.
        self.calls_dropped = 0
        self.calls_kept_bytes = 0
        self.memory: GuestMemory | None = None  # the guest's memory, once a host call needs it
        # What random_get handed out, and how each poll_oneoff ended, in order; the clock
        # readings (CLOCK_ENTRY records; the Python clock only). Made on first use: most
        # invocations have none.
        self.randomness: list[bytes] | None = None
        self.polls: list[PollOutcome] | None = None
        self.clock_log: bytearray | None = None
        self.replay = replay
        # What capabilities hold for this invocation, by capability; released by
        # ``release_resources`` once the guest has finished. Made on first use.
        self.resources: dict[str, Resource] | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def move_deadline(self, deadline_ns: int) -> None:
        """Move the invocation's deadline (earlier or later): only an invocation holding a
        connection can, between two messages. The limits watch sees it at its next tick."""
        cell = self.deadline_cell
        if cell is None:
            raise RuntimeError("only an invocation holding a connection can move its deadline")
        self.deadline_ns = deadline_ns
        self.deadline = deadline_ns / 1e9
        cell.value = deadline_ns

    def keep(self, call: HostCall, size: int) -> None:
        """Add ``call`` (about ``size`` bytes of arguments and results) to the record, unless
        the record holds ``MAX_RECORDED_CALLS`` calls or ``MAX_RECORDED_BYTES`` already: an
        invocation holding a connection may make calls without end, and its record must stay
        bounded. Calls past that are counted; a replay stops where the record does."""
        if len(self.calls) >= MAX_RECORDED_CALLS or (
            self.calls_kept_bytes + size > MAX_RECORDED_BYTES and self.calls
        ):
            self.calls_dropped += 1
            return
        self.calls_kept_bytes += size
        self.calls.append(call)


def current() -> InvocationContext:
    """The invocation running on this thread; only valid inside a host function."""
    context: InvocationContext = _local.context
    return context


def enter(context: InvocationContext) -> None:
    _local.context = context


def release_resources(context: InvocationContext) -> None:
    """Let go of everything capabilities hold for ``context`` (the guest has finished). A
    failure is logged, never raised: the invocation's outcome stands."""
    resources, context.resources = context.resources or {}, None
    for name, resource in resources.items():
        try:
            resource.release()
        except Exception:
            log.exception(
                "Releasing what the %s capability held for an invocation failed.",
                name,
                extra={"tenant": context.tenant, "trace_id": context.trace_id, "blame": "host"},
            )


def leave() -> None:
    context: InvocationContext | None = _local.context
    if context is not None:
        context.memory = None  # a view into memory the instance no longer owns
    _local.context = None
