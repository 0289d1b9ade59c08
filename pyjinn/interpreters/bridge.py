"""The bridge: host calls of interpreter guests, forwarded to the host ABI's own functions.

An interpreter built by others (CPython for WASI) cannot import ``pyjinn.kv_get``: it was
linked without it, and adding imports to a 100 MB binary means rewriting every call in it. It
has one custom import instead, ``host.call(frame_ptr, frame_len, answer_ptr_ptr,
answer_len_ptr) -> i32``, the "door", through which guest code sends bytes and gets bytes back.

A frame names a function of import module ``pyjinn`` and carries its arguments, in the order
and kinds pyjinn/abi.py gives them: ``u8 name length, name``, then per argument an i32 as 4
bytes, text or bytes as a u32 length and the bytes, an output buffer as a u32 capacity. All
little-endian. The bridge turns the frame into the raw call a compiled guest would make (its
text and bytes arguments point into the frame, which lies in guest memory), runs the ABI's own
host function on it (``pyjinn.dispatcher``: permissions, limits, the invocation's record,
metrics and errors are the same as for any guest), and answers with the result as 8 bytes
(i64) followed by the output buffer, in memory the guest allocates (its ``host_alloc`` export).

A frame that does not decode is answered ``INVALID``, with the reason for ``error_read``.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

import wasmtime

from pyjinn.abi import FUNCTIONS, PYJINN, Arg, ErrorCode, HostFunction
from pyjinn.dispatcher import implementation
from pyjinn.engine import _capi, hostfunc
from pyjinn.engine.context import current

DOOR_MODULE, DOOR_NAME = "host", "call"
_DOOR_FAULT = -2  # the door's "the host faulted": the guest raises OSError
_MASK = 0xFFFFFFFF
_I32 = wasmtime.ValType.i32()
_ANSWER = struct.Struct("<q")
_U32 = struct.Struct("<I")
_I32_VALUE = struct.Struct("<i")

_BY_NAME: dict[str, HostFunction] = {f.name: f for f in FUNCTIONS if f.module == PYJINN}
_IMPLEMENTATIONS = {name: implementation(function) for name, function in _BY_NAME.items()}


class FrameError(Exception):
    """A frame that is not a call of the host ABI."""


@dataclass(frozen=True)
class Frame:
    """A decoded frame: the function, its raw wasm arguments, and its output capacity."""

    function: HostFunction
    raw: tuple[int, ...]  # the i32 arguments; an output buffer's pointer is 0 until placed
    out_index: int  # where the output buffer's pointer goes in ``raw``, or -1
    out_capacity: int


def decode(frame: bytes, address: int) -> Frame:
    """The call ``frame`` asks for; ``address`` is where the frame lies in guest memory."""
    if not frame:
        raise FrameError("empty frame")
    end = 1 + frame[0]
    try:
        name = frame[1:end].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("the function name is not ASCII") from None
    function = _BY_NAME.get(name)
    if function is None:
        raise FrameError(f"no host function {PYJINN}.{name!r} in ABI version 1")
    raw: list[int] = []
    out_index, out_capacity, position = -1, 0, end
    for argument, kind in function.args:
        if position + 4 > len(frame):
            raise FrameError(f"the frame for {name} ends before argument {argument!r}")
        value = _U32.unpack_from(frame, position)[0]
        position += 4
        if kind is Arg.I32:
            raw.append(_I32_VALUE.unpack_from(frame, position - 4)[0])
        elif kind is Arg.OUT:
            out_index, out_capacity = len(raw), value
            raw += [0, value]
        else:
            if position + value > len(frame):
                raise FrameError(f"argument {argument!r} of {name} runs past the frame's end")
            raw += [address + position, value]
            position += value
    if position != len(frame):
        raise FrameError(f"the frame for {name} has {len(frame) - position} bytes too many")
    return Frame(function, tuple(raw), out_index, out_capacity)


def define(linker: wasmtime.Linker) -> None:
    """Define the door, ``host.call``, on ``linker``."""
    hostfunc.define(linker, DOOR_MODULE, DOOR_NAME, [_I32] * 4, [_I32], _door)


def _door(caller: int, slots: int) -> int | None:
    pointer, length, answer_at, answer_length_at = (
        _capi.raw_i32(slots, index) & _MASK for index in range(4)
    )
    context = current()
    memory = hostfunc.guest_memory(caller, context)
    try:
        frame = decode(memory.read(pointer, length), pointer)
    except (FrameError, hostfunc.GuestMemoryError) as error:
        frame = None
        context.last_error = f"host call refused: {error}"
    size = 8 + (frame.out_capacity if frame is not None else 0)
    answer = _allocate(caller, size)
    if answer is None:
        _capi.raw_set_i32(slots, 0, _DOOR_FAULT)
        return None
    result = int(ErrorCode.INVALID) if frame is None else _forward(caller, frame, answer + 8)
    memory = hostfunc.guest_memory(caller, context)  # allocating may have grown it
    memory.write(answer, _ANSWER.pack(result))
    memory.write(answer_at, _U32.pack(answer))
    memory.write(answer_length_at, _U32.pack(size))
    _capi.raw_set_i32(slots, 0, 0)
    return None


def _forward(caller: int, frame: Frame, out_pointer: int) -> int:
    """Run the ABI's host function on the frame's raw arguments; its result as an int."""
    raw = list(frame.raw)
    if frame.out_index >= 0:
        raw[frame.out_index] = out_pointer
    slots = (ctypes.c_int32 * (4 * max(len(raw), 1)))()
    for index, value in enumerate(raw):
        slots[4 * index] = value
    address = ctypes.addressof(slots)
    _IMPLEMENTATIONS[frame.function.name](caller, address)
    results = frame.function.results
    if not results:
        return 0
    if results[0] == "i64":
        return ctypes.c_int64.from_address(address).value
    return ctypes.c_int32.from_address(address).value


def _allocate(caller: int, size: int) -> int | None:
    """``size`` bytes from the guest's ``host_alloc``; None when it has none or they ran out."""
    item = _capi.Extern()
    if not _capi.caller_export_get(caller, b"host_alloc", 10, ctypes.byref(item)) or (
        int(item.kind) != _capi.EXTERN_FUNC
    ):
        return None
    slots = (ctypes.c_int32 * 4)(size)
    trap = ctypes.c_void_p()
    failure = _capi.func_call_unchecked(
        _capi.caller_context(caller),
        ctypes.byref(item, _capi.EXTERN_ITEM_OFFSET),
        slots,
        1,
        ctypes.byref(trap),
    )
    if trap.value:
        _capi.take_trap(trap.value)
        return None
    if failure:
        _capi.take_error_message(failure)
        return None
    pointer = slots[0] & _MASK
    return pointer or None
