"""The process's one wasmtime engine: how guests are compiled and how their time is kept.

Settings that hold for every guest live here: epoch interruption (timeouts), fuel metering
(``fuel_limit`` and the fuel each invocation consumed), and the pooling allocator, which keeps
instance slots and their memory mappings warm so a fresh instance per request stays cheap.

The epoch advances every ``TICK_SECONDS``; at each tick, every running guest's limits are
checked against the monotonic clock (``pyjinn.engine.invoke``), so a timeout fires within about
a tick of its deadline. The ticker is a native thread when the ``_fastinvoke`` extension is
built, which the interpreter's lock cannot delay; otherwise a Python thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import wasmtime

from pyjinn.engine import _capi, native

log = logging.getLogger("pyjinn.engine")

GiB = 1024**3
# How often the epoch advances: limits are checked at every tick while a guest runs wasm.
TICK_SECONDS = 0.005
# Memory the pooling allocator leaves mapped in a freed slot, reset by memset instead of
# madvise, so the next instance does not fault those pages in again.
KEEP_RESIDENT_BYTES = 64 * 1024


class Engine:
    """A wasmtime engine with pyjinn's settings, plus the ticker thread that enforces timeouts."""

    def __init__(
        self, *, max_instances: int = 1000, max_memory: int = 4 * GiB, debug_info: bool = False
    ) -> None:
        """``debug_info`` compiles guests unoptimised, with their DWARF translated for native
        debuggers (gdb and lldb find it through their JIT interface): for ``pyjinn replay
        --gdb``, never for serving."""
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.consume_fuel = True
        config.cranelift_opt_level = "none" if debug_info else "speed"
        config.debug_info = debug_info
        pooling = _capi.pooling_config_new()
        try:
            for option, value in (
                ("total_core_instances", max_instances),
                ("total_memories", max_instances),
                ("total_tables", max_instances),
                ("max_memory_size", max_memory),
                ("table_elements", 100_000),
                ("max_core_instance_size", 4 * 1024 * 1024),
                ("linear_memory_keep_resident", KEEP_RESIDENT_BYTES),
                ("table_keep_resident", KEEP_RESIDENT_BYTES),
            ):
                _capi.pooling_set(pooling, option, value)
            _capi.pooling_strategy_set(_capi.raw_pointer(config), pooling)
        finally:
            _capi.pooling_config_delete(pooling)
        self.wasm = wasmtime.Engine(config)
        self.pointer = _capi.raw_pointer(self.wasm)
        self.max_instances = max_instances
        self._ticker: NativeTicker | PythonTicker | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the epoch ticker (idempotent). Guests run without a timeout until it runs."""
        with self._lock:
            if self._ticker is None:
                kind = NativeTicker if native.extension is not None else PythonTicker
                self._ticker = kind(self.wasm, self.pointer)

    def close(self) -> None:
        with self._lock:
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.stop()


class NativeTicker:
    """A native thread advancing the epoch; it holds the engine so the engine outlives it."""

    def __init__(self, wasm: wasmtime.Engine, pointer: int) -> None:
        self._wasm = wasm
        self._handle: int | None = native.extension.ticker_start(pointer, round(TICK_SECONDS * 1e9))

    def stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            native.extension.ticker_stop(handle)

    def __del__(self) -> None:
        self.stop()


class PythonTicker:
    """The ticker where the extension is not built: a Python thread, which the interpreter's
    lock can delay under load (timeouts then fire late by as much)."""

    def __init__(self, wasm: wasmtime.Engine, pointer: int) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._tick, args=(wasm, pointer), name="pyjinn-epoch-ticker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _tick(self, _wasm: Any, pointer: int) -> None:
        increment, wait = _capi.engine_increment_epoch, self._stop.wait
        while not wait(TICK_SECONDS):
            increment(pointer)
