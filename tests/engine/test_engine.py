"""The engine: epoch ticks, the ticker's lifecycle, and engines that really go away."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from pyjinn.config.model import Limits
from pyjinn.engine.engine import TICK_SECONDS, Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from tests.helpers import HELLO, wat_writing


def reserved_gib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // (1024 * 1024)
    raise AssertionError("no VmSize")


def test_ticks_cover_the_timeout_plus_the_tick_under_way() -> None:
    engine = Engine(max_instances=1)
    assert engine.ticks_for(1.0) == round(1.0 / TICK_SECONDS) + 1
    assert engine.ticks_for(TICK_SECONDS / 2) == 2


def test_the_ticker_starts_once_and_stops() -> None:
    engine = Engine(max_instances=1)
    engine.start()
    engine.start()
    tickers = [t for t in threading.enumerate() if t.name == "pyjinn-epoch-ticker"]
    assert len(tickers) == 1
    engine.close()
    assert not tickers[0].is_alive()


def test_a_dropped_engine_releases_its_instance_pool(tmp_path: Path) -> None:
    # Each engine reserves address space for its whole pool (here 64 x 4 GiB). Engines whose
    # host functions pin them would exhaust the address space after a few dozen.
    module = tmp_path / "hello.wat"
    module.write_text(wat_writing(HELLO))
    gc.collect()
    before = reserved_gib()
    for _ in range(3):
        engine = Engine(max_instances=64)
        engine.start()
        loader = ModuleLoader(engine, None)
        assert invoke(engine, loader.load(module), Sandbox(engine, Limits()), b"{}").ok
        engine.close()
        del engine, loader
        gc.collect()
    assert reserved_gib() - before < 64  # far less than one leaked pool (about 256 GiB)


def test_host_functions_can_be_defined_for_several_engines(tmp_path: Path) -> None:
    module = tmp_path / "hello.wat"
    module.write_text(wat_writing(HELLO))
    engines = [Engine(max_instances=2) for _ in range(2)]
    for engine in engines:
        engine.start()
        loader = ModuleLoader(engine, None)
        assert invoke(engine, loader.load(module), Sandbox(engine, Limits()), b"{}").ok
        engine.close()
