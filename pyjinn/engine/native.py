"""The ``_fastinvoke`` extension, loaded only when it matches the wasmtime it drives.

The extension mirrors a few structs of wasmtime's C API. They are checked here against the
wasmtime package's own bindings before the extension is used: a mismatch (a wasmtime upgrade
the extension was not rebuilt for) would corrupt memory, so pyjinn then says so and runs
invocations through ctypes instead, about twice as slow.
"""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Any

log = logging.getLogger("pyjinn.engine")


def expected_layout() -> dict[str, int]:
    """The struct sizes and constants of the wasmtime C API, as wasmtime-py declares them."""
    from wasmtime import _ffi

    return {
        "instance_size": ctypes.sizeof(_ffi.wasmtime_instance_t),
        "extern_size": ctypes.sizeof(_ffi.wasmtime_extern_t),
        "extern_of_offset": _ffi.wasmtime_extern_t.of.offset,
        "byte_vec_size": ctypes.sizeof(_ffi.wasm_byte_vec_t),
        "extern_func": _ffi.WASMTIME_EXTERN_FUNC.value,
        "extern_memory": _ffi.WASMTIME_EXTERN_MEMORY.value,
    }


def load() -> Any:
    """The extension, initialised; None where it is not built, does not match wasmtime, or is
    turned off with ``PYJINN_NO_NATIVE=1``."""
    if os.environ.get("PYJINN_NO_NATIVE") == "1":
        return None
    try:
        from wasmtime import _ffi

        from pyjinn.engine import _fastinvoke  # type: ignore[attr-defined]
    except ImportError:
        return None
    assumed, actual = _fastinvoke.layout(), expected_layout()
    if assumed != actual:
        differences = ", ".join(
            f"{name} {assumed.get(name)} != {value}"
            for name, value in actual.items()
            if assumed.get(name) != value
        )
        log.warning(
            "The native invocation path was built for another wasmtime C API layout (%s); "
            "running invocations through ctypes instead. Reinstall pyjinn to rebuild it.",
            differences,
        )
        return None
    _fastinvoke.init(_ffi.dll._handle)
    return _fastinvoke


extension = load()
