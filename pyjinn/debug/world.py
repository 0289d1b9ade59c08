"""The recorded world: a guest under replay gets its answers from a record, in order.

A :class:`RecordedWorld` stands in for everything outside the sandbox. Host calls still go through
the one dispatcher (decoding, the error conventions, the guest's buffers), but every capability
is a :class:`RecordedCapability` that checks the call against the next one in the record and
gives back what the record says: the result, the error code and message, the bytes a handler
copied into a guest buffer. The core capability (logging, ``result_read``, ``error_read``) runs
for real, since it only hands back what the recorded calls left pending. The WASI functions
pyjinn serves (clocks, ``random_get``, ``poll_oneoff``) ask the world too (``context.Replayer``).

The first time the guest asks something the record cannot answer (another call, other
arguments, one call too many), the world notes where, and the guest is stopped with a trap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyjinn.abi import FUNCTIONS, Arg, ErrorCode
from pyjinn.capabilities.base import Call, FunctionHost, HostCallError
from pyjinn.capabilities.core import Core
from pyjinn.config.model import Permissions
from pyjinn.debug.record import Buffer, CrashRecord, RecordError, Value, decode_value
from pyjinn.debug.secrets import Secrets, Span, restore
from pyjinn.engine import clocks
from pyjinn.engine.clocks import MAX_LOGGED
from pyjinn.engine.context import CLOCK_ENTRY, CLOCK_TIME_GET, PollOutcome
from pyjinn.engine.hostfunc import GuestTrap

# Every capability of the ABI table answers from the record (outbound HTTP and locks too).
CAPABILITIES = tuple(sorted({function.capability for function in FUNCTIONS}))
_CLOCK_NAMES = {0: "realtime", 1: "monotonic", 2: "process CPU time", 3: "thread CPU time"}


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One host call as the record has it."""

    number: int  # 1-based, as messages count them
    module: str
    call: str
    capability: str
    arguments: tuple[Value, ...]
    result: Value | None
    error: str | None
    message: Value | None
    written: Value | None

    def describe(self) -> str:
        return f"{self.call}({', '.join(_show(argument.value) for argument in self.arguments)})"

    def outcome(self) -> str:
        if self.error is not None:
            message = self.message.value if self.message is not None else ""
            return f"{self.error.upper()} ({message})" if message else self.error.upper()
        assert self.result is not None
        return _show(self.result.value)


def recorded_calls(record: CrashRecord) -> list[RecordedCall]:
    calls = []
    for number, entry in enumerate(record.document.get("host_calls", ()), start=1):
        try:
            calls.append(
                RecordedCall(
                    number,
                    entry.get("module", ""),
                    entry["call"],
                    entry["capability"],
                    tuple(decode_value(value) for value in entry["arguments"]),
                    decode_value(entry["result"]) if "result" in entry else None,
                    entry.get("error"),
                    decode_value(entry["message"]) if "message" in entry else None,
                    decode_value(entry["written"]) if "written" in entry else None,
                )
            )
        except (KeyError, TypeError, RecordError) as error:
            raise RecordError(f"host call #{number} of the record is damaged: {error}") from None
    return calls


class RecordedWorld:
    """Answers one replayed invocation from ``record``; ``secrets`` holds the values of the
    record's redacted secrets by name. ``live_nondeterminism`` serves clocks, random and polls
    live (a degraded record that has none of them)."""

    def __init__(
        self,
        record: CrashRecord,
        secrets: Mapping[str, bytes],
        *,
        trace: Callable[[str], None] | None = None,
        live_nondeterminism: bool = False,
    ) -> None:
        self.calls = recorded_calls(record)
        # Host calls the guest made past the record's budget (engine.context.MAX_RECORDED_*).
        self.calls_dropped = int(record.document.get("host_calls_dropped", 0))
        self.secrets = dict(secrets)
        self.redactor = Secrets(self.secrets.items())
        self.trace = trace
        self.live = live_nondeterminism
        self.divergence: str | None = None
        self.next_call = 0
        self.clocks = [
            CLOCK_ENTRY.unpack_from(record.member("clocks"), offset)
            for offset in range(0, len(record.member("clocks")), CLOCK_ENTRY.size)
        ]
        self.clocks_complete = record.document.get("clocks", {}).get("complete", True)
        self.next_clock = 0
        self.randomness = self._randomness(record)
        self.next_random = 0
        self.polls = [
            PollOutcome(
                poll["subscriptions"],
                tuple((fired[0], fired[1], fired[2]) for fired in poll["fired"]),
                poll["timed_out"],
            )
            for poll in record.document.get("polls", ())
        ]
        self.next_poll = 0
        self._core = Core()
        self._origin = time.monotonic_ns()  # a live monotonic clock counts from here

    def host(self, function: str) -> FunctionHost:
        """The function host a replayed sandbox gets: every capability answers from here."""
        return FunctionHost(
            function,
            Permissions(),
            {name: RecordedCapability(self, name) for name in CAPABILITIES},
        )

    def unanswered(self) -> list[str]:
        """What the record holds that the replay never asked for."""
        left = []
        if self.next_call < len(self.calls):
            call = self.calls[self.next_call]
            left.append(
                f"the record has {len(self.calls) - self.next_call} more host call(s), from #"
                f"{call.number} {call.describe()}"
            )
        if not self.live and self.next_clock < len(self.clocks):
            left.append(f"the record has {len(self.clocks) - self.next_clock} more clock readings")
        if not self.live and self.next_random < len(self.randomness):
            left.append(f"the record has {len(self.randomness) - self.next_random} more random_get")
        if not self.live and self.next_poll < len(self.polls):
            left.append(f"the record has {len(self.polls) - self.next_poll} more poll_oneoff")
        return left

    # Host calls.

    def answer(self, capability: str, call: Call, arguments: tuple[Any, ...]) -> Any:
        name = call.function.name
        asked = f"{name}({', '.join(_show(argument) for argument in arguments)})"
        number = self.next_call + 1
        if self.next_call >= len(self.calls):
            kept = (
                f" (it kept the first {len(self.calls)}; {self.calls_dropped} more were made)"
                if self.calls_dropped
                else ""
            )
            self._diverge(
                f"host call #{number}: the guest called {asked}, the record has no more host "
                f"calls{kept}"
            )
        recorded = self.calls[self.next_call]
        if recorded.call != name or not self._same_arguments(call, arguments, recorded):
            self._diverge(
                f"host call #{number}: the guest called {asked}, the record has "
                f"{recorded.describe()}"
            )
        self.next_call += 1
        if self.trace is not None:
            self.trace(f"host call #{number}: {asked} -> {recorded.outcome()}")
        if capability == "core":
            return getattr(self._core, name)(call, *arguments)
        if recorded.error is not None:
            message = self._received(recorded.message) if recorded.message is not None else ""
            raise HostCallError(ErrorCode[recorded.error.upper()], str(message))
        result = self._received(recorded.result)
        if recorded.written is not None:
            kinds = [kind for _, kind in call.function.args]
            pointer = arguments[kinds.index(Arg.OUT)][0]
            assert call.memory is not None
            written = self._received(recorded.written)
            call.memory.write(pointer, written if isinstance(written, bytes) else b"")
        return result

    def _same_arguments(
        self, call: Call, arguments: tuple[Any, ...], recorded: RecordedCall
    ) -> bool:
        if len(arguments) != len(recorded.arguments):
            return False
        kinds = [kind for _, kind in call.function.args]
        for kind, argument, value in zip(kinds, arguments, recorded.arguments, strict=False):
            if kind in (Arg.OUT, Arg.SIZED):
                # Where the guest's buffer is may change with a rebuilt module; its size may not.
                if not isinstance(value.value, Buffer) or value.value.length != argument[1]:
                    return False
            elif isinstance(argument, str):
                if self.redactor.redact_text(argument)[0] != value.value:
                    return False
            elif isinstance(argument, bytes):
                if self.redactor.redact(argument)[0] != value.value:
                    return False
            elif argument != value.value:
                return False
        return True

    def _received(self, value: Value | None) -> Any:
        """A recorded value as the guest received it: its secrets put back."""
        if value is None:
            return None
        data = value.value
        if not value.redacted:
            return data
        if isinstance(data, str):
            return self._restore(data.encode(), value.redacted).decode()
        return self._restore(data, value.redacted)

    def _restore(self, data: bytes, spans: tuple[Span, ...]) -> bytes:
        return restore(data, spans, self.secrets)

    # WASI (context.Replayer).

    def clock(self, call: int, clock_id: int) -> tuple[int, int]:
        if self.live:
            return clocks.resolution(clock_id) if call else clocks.read(clock_id, self._origin)
        what = "clock_time_get" if call == CLOCK_TIME_GET else "clock_res_get"
        asked = f"{what}({_CLOCK_NAMES.get(clock_id, clock_id)})"
        number = self.next_clock + 1
        if self.next_clock >= len(self.clocks):
            kept = "" if self.clocks_complete else f" (it kept the first {MAX_LOGGED})"
            self._diverge(
                f"clock reading #{number}: the guest called {asked}, the record has no more "
                f"clock readings{kept}"
            )
        recorded_call, errno, recorded_id, value = self.clocks[self.next_clock]
        if (recorded_call, recorded_id) != (call, clock_id):
            recorded_what = "clock_time_get" if recorded_call == CLOCK_TIME_GET else "clock_res_get"
            self._diverge(
                f"clock reading #{number}: the guest called {asked}, the record has "
                f"{recorded_what}({_CLOCK_NAMES.get(recorded_id, recorded_id)})"
            )
        self.next_clock += 1
        if self.trace is not None:
            self.trace(f"clock reading #{number}: {asked} -> {value}")
        return errno, value

    def random(self, length: int) -> bytes:
        if self.live:
            return os.urandom(length)
        number = self.next_random + 1
        if self.next_random >= len(self.randomness):
            self._diverge(
                f"random_get #{number}: the guest asked for {length} bytes, the record "
                "has no more random_get"
            )
        data = self.randomness[self.next_random]
        if len(data) != length:
            self._diverge(
                f"random_get #{number}: the guest asked for {length} bytes, the record has "
                f"{len(data)}"
            )
        self.next_random += 1
        if self.trace is not None:
            self.trace(f"random_get #{number}: {length} bytes -> {data[:16].hex()}")
        return data

    def poll(self, subscriptions: int) -> PollOutcome:
        if self.live:
            return PollOutcome(subscriptions, tuple((i, 0, 0) for i in range(subscriptions)))
        number = self.next_poll + 1
        if self.next_poll >= len(self.polls):
            self._diverge(
                f"poll_oneoff #{number}: the guest polled {subscriptions} "
                "subscription(s), the record has no more polls"
            )
        outcome = self.polls[self.next_poll]
        if outcome.subscriptions != subscriptions:
            self._diverge(
                f"poll_oneoff #{number}: the guest polled {subscriptions} subscription(s), the "
                f"record has {outcome.subscriptions}"
            )
        self.next_poll += 1
        if self.trace is not None:
            fired = "timed out" if outcome.timed_out else f"{len(outcome.fired)} fired"
            self.trace(f"poll_oneoff #{number}: {subscriptions} subscription(s) -> {fired}")
        return outcome

    def _randomness(self, record: CrashRecord) -> list[bytes]:
        info = record.document.get("random", {})
        data = record.member("random")
        spans = tuple(Span.from_json(item) for item in info.get("redacted", ()))
        if spans:
            data = self._restore(data, spans)
        chunks, offset = [], 0
        for length in info.get("calls", ()):
            chunks.append(data[offset : offset + length])
            offset += length
        return chunks

    def _diverge(self, where: str) -> None:
        if self.divergence is None:
            self.divergence = where
        raise GuestTrap(f"replay diverged: {where}")


class RecordedCapability:
    """A capability whose every handler answers from the recorded world."""

    def __init__(self, world: RecordedWorld, name: str) -> None:
        self.name = name
        self.grant_example = ""
        self._world = world

    def is_granted(self, permissions: Permissions) -> bool:
        return True

    def authorize(self, permissions: Permissions, call: str, arguments: tuple[Any, ...]) -> None:
        return None  # the record holds the denials the guest got

    def __getattr__(self, handler: str) -> Callable[..., Any]:
        if handler.startswith("_"):
            raise AttributeError(handler)
        world, capability = self._world, self.name

        def answer(call: Call, *arguments: Any) -> Any:
            return world.answer(capability, call, arguments)

        return answer


def _show(value: Any) -> str:
    if isinstance(value, Buffer):
        return f"<buffer of {value.length} bytes>"
    if isinstance(value, tuple) and len(value) == 2:
        return f"<buffer of {value[1]} bytes>"
    if isinstance(value, bytes):
        if len(value) > 64:
            return f"<{len(value)} bytes: {value[:48]!r}...>"
        return repr(value)
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:72] + "...")
    return repr(value)
