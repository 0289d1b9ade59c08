"""Raw bindings to the wasmtime C API for the per-invocation fast path.

wasmtime-py's wrappers check types and build Python objects on every call; for the sequence that
runs once per request (store, WASI config, limits, instantiate, call ``_start``, delete) those
costs dominate. Here the same C functions are declared with plain ``c_void_p`` signatures, which
ctypes converts cheaply. Everything else (engine config, compiling, linking, inspecting modules)
uses wasmtime-py's objects, which own their C resources.

Only the two calls that can run guest code (instantiate and call) release the GIL. Every other
call is declared through ``PyDLL`` and keeps it: they take microseconds, and each GIL release
would let the busy event loop thread take the GIL, which the invoking thread then waits up to a
whole switch interval to get back. Under load that wait, not wasm, dominated an invocation.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    POINTER,
    c_bool,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint64,
    c_void_p,
)
from typing import Any

from wasmtime import _ffi

# Private handles on the same library, so our argtypes never clash with wasmtime-py's.
_holding_gil = ctypes.PyDLL(_ffi.dll._name, handle=_ffi.dll._handle)
_releasing_gil = ctypes.CDLL(_ffi.dll._name, handle=_ffi.dll._handle)


def _declare(name: str, restype: Any, *argtypes: Any, runs_guest: bool = False) -> Any:
    function = getattr(_releasing_gil if runs_guest else _holding_gil, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


class ByteVec(ctypes.Structure):
    """``wasm_byte_vec_t``: a size and a pointer owned by wasmtime once handed over."""

    _fields_ = [("size", c_size_t), ("data", c_void_p)]


Instance = _ffi.wasmtime_instance_t
Extern = _ffi.wasmtime_extern_t
EXTERN_FUNC = 0
EXTERN_MEMORY = 3
# Where the func or memory handle lives inside an Extern (after the kind tag).
EXTERN_ITEM_OFFSET: int = _ffi.wasmtime_extern_t.of.offset

# Stores, contexts and limits.
store_new = _declare("wasmtime_store_new", c_void_p, c_void_p, c_void_p, c_void_p)
store_context = _declare("wasmtime_store_context", c_void_p, c_void_p)
store_delete = _declare("wasmtime_store_delete", None, c_void_p)
store_limiter = _declare(
    "wasmtime_store_limiter", None, c_void_p, c_int64, c_int64, c_int64, c_int64, c_int64
)
context_set_wasi = _declare("wasmtime_context_set_wasi", c_void_p, c_void_p, c_void_p)
context_set_epoch_deadline = _declare(
    "wasmtime_context_set_epoch_deadline", None, c_void_p, c_uint64
)
context_set_fuel = _declare("wasmtime_context_set_fuel", c_void_p, c_void_p, c_uint64)
context_get_fuel = _declare("wasmtime_context_get_fuel", c_void_p, c_void_p, POINTER(c_uint64))
engine_increment_epoch = _declare("wasmtime_engine_increment_epoch", None, c_void_p)
# Called at each epoch deadline: returns NULL to go on (setting the next deadline) or an error.
EPOCH_CALLBACK = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, POINTER(c_uint64), POINTER(c_uint8))
UPDATE_DEADLINE_CONTINUE = 0
store_epoch_deadline_callback = _declare(
    "wasmtime_store_epoch_deadline_callback", None, c_void_p, EPOCH_CALLBACK, c_void_p, c_void_p
)

# WASI configuration. Each setter takes ownership of what it is given.
wasi_config_new = _declare("wasi_config_new", c_void_p)
wasi_config_delete = _declare("wasi_config_delete", None, c_void_p)
wasi_config_set_argv = _declare("wasi_config_set_argv", c_bool, c_void_p, c_size_t, c_void_p)
wasi_config_set_env = _declare(
    "wasi_config_set_env", c_bool, c_void_p, c_size_t, c_void_p, c_void_p
)
wasi_config_set_stdin_bytes = _declare("wasi_config_set_stdin_bytes", None, c_void_p, c_void_p)
wasi_config_set_stdout_file = _declare("wasi_config_set_stdout_file", c_bool, c_void_p, c_char_p)
wasi_config_set_stderr_file = _declare("wasi_config_set_stderr_file", c_bool, c_void_p, c_char_p)
wasi_config_preopen_dir = _declare(
    "wasi_config_preopen_dir", c_bool, c_void_p, c_char_p, c_char_p, c_bool
)
byte_vec_new = _declare("wasm_byte_vec_new", None, c_void_p, c_size_t, c_char_p)
byte_vec_delete = _declare("wasm_byte_vec_delete", None, c_void_p)

# Instances, exports, calls.
instance_pre_instantiate = _declare(
    "wasmtime_instance_pre_instantiate",
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
    runs_guest=True,  # a start function or data initialisation may run
)
instance_export_get = _declare(
    "wasmtime_instance_export_get", c_bool, c_void_p, c_void_p, c_char_p, c_size_t, c_void_p
)
func_call = _declare(
    "wasmtime_func_call",
    c_void_p,
    c_void_p,
    c_void_p,
    c_void_p,
    c_size_t,
    c_void_p,
    c_size_t,
    c_void_p,
    runs_guest=True,
)
func_call_unchecked = _declare(
    "wasmtime_func_call_unchecked", c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p,
    runs_guest=True,
)  # fmt: skip
memory_data = _declare("wasmtime_memory_data", c_void_p, c_void_p, c_void_p)
memory_grow = _declare(
    "wasmtime_memory_grow", c_void_p, c_void_p, c_void_p, c_uint64, POINTER(c_uint64)
)
memory_data_size = _declare("wasmtime_memory_data_size", c_size_t, c_void_p, c_void_p)

# Host functions.
caller_context = _declare("wasmtime_caller_context", c_void_p, c_void_p)
caller_export_get = _declare(
    "wasmtime_caller_export_get", c_bool, c_void_p, c_char_p, c_size_t, c_void_p
)
UNCHECKED_CALLBACK = ctypes.CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_void_p, c_size_t)
FINALIZER = ctypes.CFUNCTYPE(None, c_void_p)
linker_define_func_unchecked = _declare(
    "wasmtime_linker_define_func_unchecked",
    c_void_p,
    c_void_p,
    c_char_p,
    c_size_t,
    c_char_p,
    c_size_t,
    c_void_p,
    UNCHECKED_CALLBACK,
    c_void_p,
    c_void_p,
)
linker_allow_shadowing = _declare("wasmtime_linker_allow_shadowing", None, c_void_p, c_bool)

# Errors and traps.
error_new = _declare("wasmtime_error_new", c_void_p, c_char_p)
error_delete = _declare("wasmtime_error_delete", None, c_void_p)
error_message = _declare("wasmtime_error_message", None, c_void_p, c_void_p)
error_exit_status = _declare("wasmtime_error_exit_status", c_bool, c_void_p, POINTER(c_int))
trap_code = _declare("wasmtime_trap_code", c_bool, c_void_p, POINTER(c_uint8))
trap_message = _declare("wasm_trap_message", None, c_void_p, c_void_p)
trap_delete = _declare("wasm_trap_delete", None, c_void_p)
trap_new = _declare("wasmtime_trap_new", c_void_p, c_char_p, c_size_t)


class FrameVec(ctypes.Structure):
    """``wasm_frame_vec_t``: the frames of a trap's or an error's wasm backtrace."""

    _fields_ = [("size", c_size_t), ("data", POINTER(c_void_p))]


trap_trace = _declare("wasm_trap_trace", None, c_void_p, c_void_p)
error_wasm_trace = _declare("wasmtime_error_wasm_trace", None, c_void_p, c_void_p)
frame_func_index = _declare("wasm_frame_func_index", ctypes.c_uint32, c_void_p)
frame_func_offset = _declare("wasm_frame_func_offset", c_size_t, c_void_p)
frame_module_offset = _declare("wasm_frame_module_offset", c_size_t, c_void_p)
frame_func_name = _declare("wasmtime_frame_func_name", POINTER(ByteVec), c_void_p)
frame_vec_delete = _declare("wasm_frame_vec_delete", None, c_void_p)
MAX_FRAMES = 64  # as the native path keeps

Frame = tuple[int, int, int, str]  # function index, offset in it, offset in the module, name


def take_frames(vector: FrameVec) -> tuple[tuple[Frame, ...], int]:
    """The frames of ``vector`` (at most ``MAX_FRAMES``, youngest first) and how many there
    were; frees the vector."""
    frames = []
    for index in range(min(vector.size, MAX_FRAMES)):
        frame = vector.data[index]
        name = frame_func_name(frame)
        text = (
            ctypes.string_at(name.contents.data, name.contents.size).decode("utf-8", "replace")
            if name
            else ""
        )
        frames.append(
            (frame_func_index(frame), frame_func_offset(frame), frame_module_offset(frame), text)
        )
    total = int(vector.size)
    frame_vec_delete(ctypes.byref(vector))
    return tuple(frames), total


def trap_frames(trap: int) -> tuple[tuple[Frame, ...], int]:
    vector = FrameVec()
    trap_trace(trap, ctypes.byref(vector))
    return take_frames(vector)


def error_frames(error: int) -> tuple[tuple[Frame, ...], int]:
    vector = FrameVec()
    error_wasm_trace(error, ctypes.byref(vector))
    return take_frames(vector)


# Pooling allocator.
pooling_config_new = _declare("wasmtime_pooling_allocation_config_new", c_void_p)
pooling_config_delete = _declare("wasmtime_pooling_allocation_config_delete", None, c_void_p)
pooling_strategy_set = _declare(
    "wasmtime_pooling_allocation_strategy_set", None, c_void_p, c_void_p
)


def pooling_set(config: int, option: str, value: int) -> None:
    """Set one ``wasmtime_pooling_allocation_config_<option>_set`` value."""
    _declare(f"wasmtime_pooling_allocation_config_{option}_set", None, c_void_p, c_size_t)(
        config, value
    )


def take_error_message(error: int) -> str:
    """Read a ``wasmtime_error_t``'s message and free the error."""
    vec = ByteVec()
    error_message(error, ctypes.byref(vec))
    text = ctypes.string_at(vec.data, vec.size).decode("utf-8", "replace")
    byte_vec_delete(ctypes.byref(vec))
    error_delete(error)
    return text


def take_trap(trap: int) -> tuple[int | None, str]:
    """Read a ``wasm_trap_t``'s code (None when it has none) and message, and free it (take
    ``trap_frames`` first to keep its backtrace)."""
    code = c_uint8()
    has_code = trap_code(trap, ctypes.byref(code))
    vec = ByteVec()
    trap_message(trap, ctypes.byref(vec))
    text = ctypes.string_at(vec.data, vec.size).decode("utf-8", "replace").rstrip("\0")
    byte_vec_delete(ctypes.byref(vec))
    trap_delete(trap)
    return (code.value if has_code else None), text


def raw_pointer(managed: Any) -> int:
    """The address held by a wasmtime-py object (Engine, InstancePre, ...)."""
    address = ctypes.cast(managed.ptr(), c_void_p).value
    assert address is not None
    return address


def raw_i32(args: int, index: int) -> int:
    """Argument ``index`` of an unchecked host call as i32 (slots are 16 bytes apart)."""
    return c_int32.from_address(args + 16 * index).value


def raw_set_i32(args: int, index: int, value: int) -> None:
    c_int32.from_address(args + 16 * index).value = value


def raw_set_i64(args: int, index: int, value: int) -> None:
    c_int64.from_address(args + 16 * index).value = value
