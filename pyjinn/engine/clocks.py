"""WASI's clocks served by pyjinn, so every reading a guest takes can be recorded and replayed.

``clock_time_get`` and ``clock_res_get`` answer as wasmtime's own did: the realtime clock in
nanoseconds since the epoch, the monotonic clock in nanoseconds since the guest's WASI context
was created, a resolution of 1 ns for both, EBADF for the CPU-time clocks (2 and 3). Two
deliberate differences: an unknown clock id is EINVAL rather than a trap, and a pointer outside
memory is EFAULT rather than a trap, as for pyjinn's other WASI functions.

Guests read the clock often (a Go runtime does so on every scheduling decision), so the live
clock is the ``_fastinvoke`` extension's C function, which logs each reading in a buffer of the
invocation for a few nanoseconds. Where the extension is not built, and under replay, the same
calls are served from Python (about 10 µs each) and log the same 16-byte entries
(``context.CLOCK_ENTRY``) on the invocation.
"""

from __future__ import annotations

import time

import wasmtime

from pyjinn.engine import _capi, hostfunc, native
from pyjinn.engine.context import CLOCK_ENTRY, CLOCK_RES_GET, CLOCK_TIME_GET, current

WASI = "wasi_snapshot_preview1"
REALTIME, MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME = 0, 1, 2, 3
_ERRNO_SUCCESS = 0
_ERRNO_BADF = 8
_ERRNO_FAULT = 21
_ERRNO_INVAL = 28
RESOLUTION_NS = 1
# At most this many readings are logged per invocation (16 bytes each); a record says when a
# guest read the clock more often, and its replay stops there.
MAX_LOGGED = 1 << 18


def read(clock_id: int, created_ns: int) -> tuple[int, int]:
    """(errno, nanoseconds) of a live ``clock_time_get``."""
    if clock_id == REALTIME:
        return _ERRNO_SUCCESS, time.time_ns()
    if clock_id == MONOTONIC:
        return _ERRNO_SUCCESS, time.monotonic_ns() - created_ns
    return (_ERRNO_BADF if clock_id in (PROCESS_CPUTIME, THREAD_CPUTIME) else _ERRNO_INVAL), 0


def resolution(clock_id: int) -> tuple[int, int]:
    """(errno, nanoseconds) of a live ``clock_res_get``."""
    if clock_id in (REALTIME, MONOTONIC):
        return _ERRNO_SUCCESS, RESOLUTION_NS
    return (_ERRNO_BADF if clock_id in (PROCESS_CPUTIME, THREAD_CPUTIME) else _ERRNO_INVAL), 0


def _answer(caller: int, slots: int, call: int, clock_id: int, pointer: int) -> None:
    context = current()
    try:
        memory = hostfunc.guest_memory(caller, context)
        memory.check(pointer, 8)
    except hostfunc.GuestMemoryError:
        _capi.raw_set_i32(slots, 0, _ERRNO_FAULT)
        return
    replay = context.replay
    if replay is not None:
        errno, value = replay.clock(call, clock_id)
    elif call == CLOCK_TIME_GET:
        errno, value = read(clock_id, context.created_ns)
    else:
        errno, value = resolution(clock_id)
    log = context.clock_log
    if log is None:
        log = context.clock_log = bytearray()
    if len(log) < MAX_LOGGED * CLOCK_ENTRY.size:
        log += CLOCK_ENTRY.pack(call, errno, clock_id & 0xFFFFFFFF, value)
    if errno == _ERRNO_SUCCESS:
        memory.write(pointer, value.to_bytes(8, "little"))
    _capi.raw_set_i32(slots, 0, errno)


def _clock_time_get(caller: int, slots: int) -> int | None:
    clock_id = _capi.raw_i32(slots, 0) & 0xFFFFFFFF
    pointer = _capi.raw_i32(slots, 2) & 0xFFFFFFFF  # slot 1 is the precision (ignored)
    _answer(caller, slots, CLOCK_TIME_GET, clock_id, pointer)
    return None


def _clock_res_get(caller: int, slots: int) -> int | None:
    clock_id = _capi.raw_i32(slots, 0) & 0xFFFFFFFF
    pointer = _capi.raw_i32(slots, 1) & 0xFFFFFFFF
    _answer(caller, slots, CLOCK_RES_GET, clock_id, pointer)
    return None


def define(linker: wasmtime.Linker, *, replay: bool = False) -> None:
    """Replace WASI's clocks on ``linker`` (which must allow shadowing): the native clock,
    unless ``replay`` or the extension is not built."""
    i32, i64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()
    time_params, res_params = [i32, i64, i32], [i32, i32]
    extension = native.extension
    if extension is not None and not replay:
        time_get, res_get = extension.clock_functions()
        hostfunc.define_native(linker, WASI, "clock_time_get", time_params, [i32], time_get)
        hostfunc.define_native(linker, WASI, "clock_res_get", res_params, [i32], res_get)
    else:
        hostfunc.define(linker, WASI, "clock_time_get", time_params, [i32], _clock_time_get)
        hostfunc.define(linker, WASI, "clock_res_get", res_params, [i32], _clock_res_get)
