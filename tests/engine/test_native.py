"""The native invocation path is used only when it was built for this wasmtime's C API layout,
and it checks what Python hands it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pyjinn.engine import native

pytestmark = pytest.mark.skipif(native.extension is None, reason="_fastinvoke is not built")


def test_the_built_extension_matches_the_wasmtime_bindings() -> None:
    assert native.extension.layout() == native.expected_layout()


def test_a_layout_mismatch_falls_back_to_ctypes_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    built_for = {**native.expected_layout(), "extern_of_offset": 16}
    monkeypatch.setattr(native.extension, "layout", lambda: built_for)
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        assert native.load() is None
    [warning] = [r.getMessage() for r in caplog.records]
    assert "extern_of_offset 16 != 8" in warning
    assert "through ctypes" in warning


class _Untruthful:
    def __bool__(self) -> bool:
        raise ZeroDivisionError("no truth value")


@pytest.mark.parametrize(
    ("env", "preopens", "error"),
    [
        ([(b"NAME",)], [], IndexError),  # a pair without its value
        ([(b"NAME", "not bytes")], [], TypeError),
        ([], [(b"/tmp", b"/x")], IndexError),  # no writable flag
        ([], [(b"/tmp", b"/x", _Untruthful())], ZeroDivisionError),
    ],
)
def test_malformed_arguments_raise_instead_of_reaching_wasmtime(
    env: list[Any], preopens: list[Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        native.extension.invoke(0, 0, b"", [b"main"], env, preopens, 1 << 20, 0, 0, 1, 1, 0, 0)
