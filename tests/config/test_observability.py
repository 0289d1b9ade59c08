"""The tracing option and debug_secret, beyond what the golden files pin."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.config import loads
from pyjinn.config.model import Tracing
from pyjinn.errors import ConfigErrors


def _load(tmp_path: Path, options: str = "", function: str = "") -> object:
    (tmp_path / "hello.wat").write_text('(module (func (export "_start")))')
    text = f"{{\n{options}\n}}\n:8080 {{\n\tpyjinn hello.wat {{\n{function}\n\t}}\n}}\n"
    return loads(text, base_dir=tmp_path, environ={"SECRET": "from-the-environment-0123"})


def test_tracing_defaults_to_the_environment_deciding(tmp_path: Path) -> None:
    config = _load(tmp_path)
    assert config.options.tracing == Tracing(mode="auto")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tracing off", Tracing(mode="off")),
        ("tracing otlp", Tracing(mode="otlp")),
        (
            "tracing otlp https://collector.example:4318 {\n sample 0\n}",
            Tracing(mode="otlp", endpoint="https://collector.example:4318", sample=0.0),
        ),
    ],
)
def test_tracing_option_forms(tmp_path: Path, line: str, expected: Tracing) -> None:
    assert _load(tmp_path, line).options.tracing == expected


def test_an_unknown_tracing_exporter_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match="tracing expects otlp"):
        _load(tmp_path, "tracing zipkin http://127.0.0.1:9411")


def test_debug_secret_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    config = _load(tmp_path, function="debug_secret {env.SECRET}")
    (spec,) = config.functions()
    assert spec.debug_secret == "from-the-environment-0123"
    assert "from-the-environment" not in repr(spec)


def test_a_short_debug_secret_is_refused_without_quoting_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors) as raised:
        _load(tmp_path, function="debug_secret hunter2")
    assert "too short (7 characters)" in str(raised.value)
    assert "hunter2" not in str(raised.value)
