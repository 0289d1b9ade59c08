"""Defining host functions on the linker, and reading and writing guest memory from them.

Host functions use wasmtime's unchecked calling convention: arguments and results share one
array of 16-byte ``wasmtime_val_raw_t`` slots, which costs far less than building wasmtime-py
value objects for every call. Every host function is wrapped so that a Python exception becomes
a trap on the guest and a host failure on the invocation, never an exception crossing into C
(ctypes would print it and return "success").
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable

import wasmtime

from pyjinn.engine import _capi
from pyjinn.engine.context import InvocationContext, current

log = logging.getLogger("pyjinn.engine")

# An implementation receives the caller handle and the argument/result slots, and returns
# None on success or a trap pointer (from ``trap``) to abort the guest.
HostImplementation = Callable[[int, int], int | None]


class GuestMemoryError(Exception):
    """A guest pointer or length falls outside its linear memory."""


class GuestTrap(Exception):
    """Raised by a host function to stop the calling guest with a trap carrying this message;
    not a host failure (replay raises it where a guest asks what its record cannot answer)."""


class GuestMemory:
    """The calling guest's exported ``memory``, bounds-checked.

    Made once per invocation (``guest_memory``) and re-anchored on every host call: the guest
    may have grown its memory since the last call, and an engine without the pooling allocator
    may have moved it.
    """

    __slots__ = ("_base", "_context", "_handle", "_item", "_view", "size")

    def __init__(self, caller: int) -> None:
        item = _capi.Extern()
        if not _capi.caller_export_get(caller, b"memory", 6, ctypes.byref(item)) or (
            int(item.kind) != _capi.EXTERN_MEMORY
        ):
            raise GuestMemoryError("the module exports no memory named 'memory'")
        self._item = item  # kept alive: _handle points into it
        self._context = _capi.caller_context(caller)
        self._handle = ctypes.byref(item, _capi.EXTERN_ITEM_OFFSET)
        self._anchor(_capi.memory_data(self._context, self._handle))

    def _anchor(self, base: int) -> None:
        self._base: int = base
        self.size: int = _capi.memory_data_size(self._context, self._handle)
        self._view = memoryview((ctypes.c_ubyte * self.size).from_address(base)).cast("B")

    def refresh(self) -> None:
        """Follow a memory that moved; growth in place is picked up by ``check``."""
        base = _capi.memory_data(self._context, self._handle)
        if base != self._base:
            self._anchor(base)

    def check(self, pointer: int, length: int) -> None:
        """Raise ``GuestMemoryError`` unless ``[pointer, pointer + length)`` is in memory."""
        if pointer + length > self.size:
            self._anchor(self._base)  # memory never shrinks: it may have grown since
            if pointer + length > self.size:
                raise GuestMemoryError(
                    f"range [{pointer}, {pointer + length}) is outside the guest's "
                    f"{self.size} bytes"
                )

    def read(self, pointer: int, length: int) -> bytes:
        pointer &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        self.check(pointer, length)
        return bytes(self._view[pointer : pointer + length])

    def write(self, pointer: int, data: bytes) -> None:
        pointer &= 0xFFFFFFFF
        self.check(pointer, len(data))
        self._view[pointer : pointer + len(data)] = data

    @property
    def view(self) -> memoryview:
        return self._view


def guest_memory(caller: int, invocation: InvocationContext | None = None) -> GuestMemory:
    """The memory of the guest calling a host function (of ``invocation``, by default the one
    running on this thread): found once per invocation, then re-anchored on each call."""
    if invocation is None:
        invocation = current()
    memory = invocation.memory
    if memory is None:
        memory = invocation.memory = GuestMemory(caller)
    else:
        memory.refresh()
    return memory


def trap(message: str) -> int:
    """A new trap that aborts the calling guest with ``message``."""
    encoded = message.encode()
    pointer: int = _capi.trap_new(encoded, len(encoded))
    return pointer


# One C callback per host function, shared by every linker and engine and never freed: a
# callback must outlive every instance that may call it. (The function type, by contrast, must
# not be kept: wasmtime binds it to the first engine it is used with, which would keep that
# engine, and its reserved instance pool, alive for good.)
_callbacks: dict[tuple[str, str, str], object] = {}


def _callback(module: str, name: str, variant: str, implementation: HostImplementation) -> object:
    key = (module, name, variant)
    callback = _callbacks.get(key)
    if callback is None:

        def trampoline(_env: int | None, caller: int, slots: int, _count: int) -> int | None:
            try:
                return implementation(caller, slots)
            except GuestTrap as stop:
                return trap(str(stop))
            except Exception as error:  # our bug, not the guest's: fail this invocation only
                current().host_failure = error
                log.exception("Host function %s.%s failed.", module, name)
                return trap(f"host function {module}.{name} failed")

        callback = _callbacks[key] = _capi.UNCHECKED_CALLBACK(trampoline)
    return callback


def define(
    linker: wasmtime.Linker,
    module: str,
    name: str,
    params: list[wasmtime.ValType],
    results: list[wasmtime.ValType],
    implementation: HostImplementation,
) -> None:
    """Define ``module.name`` on ``linker`` with the unchecked calling convention.

    One implementation serves every linker; functions that exist with several signatures
    (``params -> results``) get one implementation per signature.
    """
    variant = f"{params}->{results}"
    _define(linker, module, name, params, results, _callback(module, name, variant, implementation))


def define_native(
    linker: wasmtime.Linker,
    module: str,
    name: str,
    params: list[wasmtime.ValType],
    results: list[wasmtime.ValType],
    address: int,
) -> None:
    """Define ``module.name`` on ``linker`` as the C function at ``address`` (unchecked calling
    convention; from the ``_fastinvoke`` extension, which lives as long as the process)."""
    key = (module, name, f"native:{address}")
    callback = _callbacks.get(key)
    if callback is None:
        callback = _callbacks[key] = _capi.UNCHECKED_CALLBACK(address)
    _define(linker, module, name, params, results, callback)


def _define(
    linker: wasmtime.Linker,
    module: str,
    name: str,
    params: list[wasmtime.ValType],
    results: list[wasmtime.ValType],
    callback: object,
) -> None:
    module_name, function_name = module.encode(), name.encode()
    functype = wasmtime.FuncType(params, results)  # alive for the call only
    error = _capi.linker_define_func_unchecked(
        _capi.raw_pointer(linker),
        module_name,
        len(module_name),
        function_name,
        len(function_name),
        _capi.raw_pointer(functype),
        callback,
        None,
        None,
    )
    if error:
        raise RuntimeError(f"cannot define {module}.{name}: {_capi.take_error_message(error)}")
