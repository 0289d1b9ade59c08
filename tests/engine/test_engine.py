"""The engine: epoch ticks, the ticker's lifecycle, and engines that really go away."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import pytest

from pyjinn.config.model import Limits
from pyjinn.engine import native
from pyjinn.engine.engine import Engine, NativeTicker, PythonTicker
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from tests.helpers import HELLO, wat_trapping, wat_writing


def reserved_gib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) // (1024 * 1024)
    raise AssertionError("no VmSize")


@pytest.fixture(params=["native", "python"])
def ticker_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each ticker test runs with the native ticker thread and with the Python fallback."""
    if request.param == "native" and native.extension is None:
        pytest.skip("the _fastinvoke extension is not built")
    if request.param == "python":
        monkeypatch.setattr(native, "extension", None)
    return str(request.param)


def test_the_ticker_starts_once_and_stops(ticker_kind: str) -> None:
    engine = Engine(max_instances=1)
    engine.start()
    ticker = engine._ticker
    engine.start()
    assert engine._ticker is ticker
    assert isinstance(ticker, NativeTicker if ticker_kind == "native" else PythonTicker)
    python_threads = [t for t in threading.enumerate() if t.name == "pyjinn-epoch-ticker"]
    assert len(python_threads) == (1 if ticker_kind == "python" else 0)
    engine.close()
    assert engine._ticker is None
    assert not any(t.is_alive() for t in python_threads)


def test_the_ticker_advances_the_epoch_every_tick(ticker_kind: str, tmp_path: Path) -> None:
    # A guest looping for 0.3 s is stopped only because the ticker keeps ticking.
    module = tmp_path / "loop.wat"
    module.write_text(wat_trapping("(loop $forever (br $forever))"))
    engine = Engine(max_instances=2)
    engine.start()
    try:
        loaded = ModuleLoader(engine, None).load(module)
        started = time.monotonic()
        run = invoke(engine, loaded, Sandbox(engine, Limits(timeout=0.3)), b"{}")
        assert run.error is not None and run.error.kind == "timeout"
        assert time.monotonic() - started >= 0.3
    finally:
        engine.close()


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
