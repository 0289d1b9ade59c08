"""Every `pyjinn init` template compiles with `pyjinn build` and answers as a hello function."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.scaffold import LANGUAGES, create_function
from pyjinn.toolchain import CompileFailed, build_all
from pyjinn.toolchain.go import find_go
from pyjinn.toolchain.rust import find_rust

from .conftest import Invoke, make_request

pytestmark = pytest.mark.slow

# Languages whose toolchain is not a Python dependency: skipped where it is not installed.
TOOLCHAINS = {"rust": find_rust, "go": find_go}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_scaffolded_function_builds_and_says_hello(
    tmp_path: Path, invoke: Invoke, lang: str
) -> None:
    name = f"my-{lang}_fn"
    if lang in TOOLCHAINS:
        try:
            TOOLCHAINS[lang]()
        except CompileFailed as error:
            pytest.skip(str(error))
    create_function(tmp_path, name, lang)

    (result,) = build_all(tmp_path, echo=lambda line: None)
    assert result.ok, result.message
    assert result.output == tmp_path / "functions" / f"{name}.wasm"

    run = invoke(result.output, make_request("/greet?x=1", method="POST", body=b"x" * 100_000))
    assert run.exit_code == 0
    assert run.status == 200
    assert run.header("Content-Type") == ["text/plain; charset=utf-8"]
    if lang in ("zig", "rust", "go"):
        assert run.body == f"Hello from {name} (POST /greet)"
    else:
        assert run.body == f"Hello from {name}"

    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.up_to_date
