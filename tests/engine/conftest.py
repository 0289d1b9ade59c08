"""Fixtures of the engine tests: a started engine per module, and the two ways an invocation
runs (the native extension and the ctypes fallback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyjinn.engine import invoke as invoke_module
from pyjinn.engine import native
from pyjinn.engine.engine import Engine


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    engine = Engine(max_instances=32)
    engine.start()
    yield engine
    engine.close()


@pytest.fixture(params=["native", "ctypes"])
def mechanics(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each test through the native invocation path and through the ctypes fallback."""
    if request.param == "native":
        if not invoke_module.NATIVE:
            pytest.skip("the _fastinvoke extension is not built")
    else:
        monkeypatch.setattr(invoke_module, "_native", None)
        monkeypatch.setattr(native, "extension", None)  # modules linked for the ctypes path
    return str(request.param)
