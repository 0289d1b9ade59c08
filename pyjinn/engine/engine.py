"""The process's one wasmtime engine: how guests are compiled and how their time is kept.

Settings that hold for every guest live here: epoch interruption (timeouts), fuel metering
(``fuel_limit`` and the fuel each invocation consumed), and the pooling allocator, which keeps
instance slots and their memory mappings warm so a fresh instance per request stays cheap.
"""

from __future__ import annotations

import logging
import math
import threading

import wasmtime

from pyjinn.engine import _capi

log = logging.getLogger("pyjinn.engine")

GiB = 1024**3
# How often the epoch advances. A timeout fires within one tick after it is due.
TICK_SECONDS = 0.005
# Memory the pooling allocator leaves mapped in a freed slot, reset by memset instead of
# madvise, so the next instance does not fault those pages in again.
KEEP_RESIDENT_BYTES = 64 * 1024


class Engine:
    """A wasmtime engine with pyjinn's settings, plus the ticker thread that enforces timeouts."""

    def __init__(self, *, max_instances: int = 1000, max_memory: int = 4 * GiB) -> None:
        config = wasmtime.Config()
        config.epoch_interruption = True
        config.consume_fuel = True
        config.cranelift_opt_level = "speed"
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
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    def ticks_for(self, seconds: float) -> int:
        """Epoch ticks that cover ``seconds``, counting the partial tick already under way."""
        return math.ceil(seconds / TICK_SECONDS) + 1

    def start(self) -> None:
        """Start the epoch ticker (idempotent). Guests run without a timeout until it runs."""
        with self._lock:
            if self._ticker is None:
                self._stop.clear()
                self._ticker = threading.Thread(
                    target=self._tick, name="pyjinn-epoch-ticker", daemon=True
                )
                self._ticker.start()

    def close(self) -> None:
        with self._lock:
            ticker, self._ticker = self._ticker, None
        if ticker is not None:
            self._stop.set()
            ticker.join()

    def _tick(self) -> None:
        increment, pointer, wait = _capi.engine_increment_epoch, self.pointer, self._stop.wait
        while not wait(TICK_SECONDS):
            increment(pointer)
