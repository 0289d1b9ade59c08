"""``random_get`` served straight from the operating system's CSPRNG (``getrandom(2)``).

wasmtime's own implementation draws from a user-space generator seeded by the OS; answering
from the kernel instead keeps guest randomness exactly as strong as the host's and leaves no
generator state in the process. A guest's bad pointer or length gets EFAULT, never a host error.
What each call handed out stays on the invocation (crash records keep it); under replay the
recorded bytes are handed out again instead.
"""

from __future__ import annotations

import os

import wasmtime

from pyjinn.engine import _capi, hostfunc
from pyjinn.engine.context import current

_ERRNO_SUCCESS = 0
_ERRNO_FAULT = 21
_MAX_REQUEST = 1 << 20  # per call; a guest needing more asks again, as getentropy's callers do

# Indirection so tests can observe that guest randomness really comes from here.
source = os.urandom


def _random_get(caller: int, slots: int) -> int | None:
    pointer = _capi.raw_i32(slots, 0)
    length = _capi.raw_i32(slots, 1) & 0xFFFFFFFF
    context = current()
    try:
        memory = hostfunc.guest_memory(caller, context)
        if length > _MAX_REQUEST:
            raise hostfunc.GuestMemoryError(f"random_get of {length} bytes")
        memory.check(pointer & 0xFFFFFFFF, length)
        replay = context.replay
        data = source(length) if replay is None else replay.random(length)
        memory.write(pointer, data)
        if context.randomness is None:
            context.randomness = [data]
        else:
            context.randomness.append(data)
    except hostfunc.GuestMemoryError:
        _capi.raw_set_i32(slots, 0, _ERRNO_FAULT)
        return None
    _capi.raw_set_i32(slots, 0, _ERRNO_SUCCESS)
    return None


def define(linker: wasmtime.Linker) -> None:
    """Replace WASI's ``random_get`` on ``linker`` (which must allow shadowing)."""
    i32 = wasmtime.ValType.i32()
    hostfunc.define(linker, "wasi_snapshot_preview1", "random_get", [i32, i32], [i32], _random_get)
