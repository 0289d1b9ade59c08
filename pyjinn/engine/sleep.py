"""``poll_oneoff`` that never outlives the invocation's deadline.

Epoch interruption stops guest code only while it executes wasm; a guest blocked inside WASI's
``poll_oneoff`` (how ``sleep`` is implemented) would keep its slot long past its timeout. This
replacement sleeps at most until the deadline, then aborts the guest as timed out. A guest has no
sockets and its stdin and files never block, so fd subscriptions are reported ready at once.

How each call ended (which subscriptions fired, or that the deadline came first) stays on the
invocation; under replay that outcome is given back at once, without sleeping.
"""

from __future__ import annotations

import struct
import time

import wasmtime

from pyjinn.engine import _capi, hostfunc
from pyjinn.engine.context import InvocationContext, PollOutcome, current

_SUBSCRIPTION = struct.Struct("<QB7xIxxxxQQH")  # userdata, tag, clock id, timeout, precision, flags
_SUBSCRIPTION_SIZE = 48
_EVENT = struct.Struct("<QHBxxxxxQH6x")  # userdata, errno, type, nbytes, flags
_EVENT_SIZE = 32

_TAG_CLOCK = 0
_CLOCK_REALTIME = 0
_CLOCK_MONOTONIC = 1
_ABSTIME = 1
_ERRNO_SUCCESS = 0
_ERRNO_FAULT = 21
_ERRNO_INVAL = 28
_ERRNO_NOTSUP = 58


def _poll_oneoff(caller: int, slots: int) -> int | None:
    in_pointer = _capi.raw_i32(slots, 0) & 0xFFFFFFFF
    out_pointer = _capi.raw_i32(slots, 1) & 0xFFFFFFFF
    count = _capi.raw_i32(slots, 2) & 0xFFFFFFFF
    nevents_pointer = _capi.raw_i32(slots, 3) & 0xFFFFFFFF
    context = current()
    try:
        memory = hostfunc.guest_memory(caller)
        subscriptions = memory.read(in_pointer, count * _SUBSCRIPTION_SIZE)
    except hostfunc.GuestMemoryError:
        _capi.raw_set_i32(slots, 0, _ERRNO_FAULT)
        return None
    if count == 0:
        _capi.raw_set_i32(slots, 0, _ERRNO_INVAL)
        return None

    replay = context.replay
    outcome = _wait(context, subscriptions, count) if replay is None else replay.poll(count)
    if context.polls is None:
        context.polls = [outcome]
    else:
        context.polls.append(outcome)
    if outcome.timed_out:
        context.timed_out = True
        return hostfunc.trap("deadline reached while sleeping")
    ready = [
        _EVENT.pack(
            _SUBSCRIPTION.unpack_from(subscriptions, index * _SUBSCRIPTION_SIZE)[0],
            errno,
            kind,
            0,
            0,
        )
        for index, errno, kind in outcome.fired
    ]
    try:
        memory.write(out_pointer, b"".join(ready))
        memory.write(nevents_pointer, struct.pack("<I", len(ready)))
    except hostfunc.GuestMemoryError:
        _capi.raw_set_i32(slots, 0, _ERRNO_FAULT)
        return None
    _capi.raw_set_i32(slots, 0, _ERRNO_SUCCESS)
    return None


def _wait(context: InvocationContext, subscriptions: bytes, count: int) -> PollOutcome:
    """Sleep as the subscriptions ask, never past the deadline; which of them fired."""
    fired: list[tuple[int, int, int]] = []
    clocks: list[tuple[int, int]] = []  # (nanoseconds to wait, subscription index)
    for index in range(count):
        _userdata, tag, clock_id, timeout, _precision, flags = _SUBSCRIPTION.unpack_from(
            subscriptions, index * _SUBSCRIPTION_SIZE
        )
        if tag != _TAG_CLOCK:
            fired.append((index, _ERRNO_SUCCESS, tag))
        elif clock_id not in (_CLOCK_REALTIME, _CLOCK_MONOTONIC):
            fired.append((index, _ERRNO_NOTSUP, tag))
        elif flags & _ABSTIME:
            # The guest's monotonic clock counts from when its WASI context was created.
            now = (
                time.time_ns()
                if clock_id == _CLOCK_REALTIME
                else (time.monotonic_ns() - context.created_ns)
            )
            clocks.append((max(0, timeout - now), index))
        else:
            clocks.append((timeout, index))

    waited = 0
    if not fired and clocks:
        wait = min(delay for delay, _ in clocks) / 1e9
        remaining = context.remaining()
        if wait >= remaining:
            time.sleep(max(0.0, remaining))
            return PollOutcome(count, timed_out=True)
        time.sleep(wait)
        waited = int(wait * 1e9)
    fired.extend((index, _ERRNO_SUCCESS, _TAG_CLOCK) for delay, index in clocks if delay <= waited)
    return PollOutcome(count, tuple(fired))


def define(linker: wasmtime.Linker) -> None:
    """Replace WASI's ``poll_oneoff`` on ``linker`` (which must allow shadowing)."""
    i32 = wasmtime.ValType.i32()
    hostfunc.define(
        linker, "wasi_snapshot_preview1", "poll_oneoff", [i32, i32, i32, i32], [i32], _poll_oneoff
    )
