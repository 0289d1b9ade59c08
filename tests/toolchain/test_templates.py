"""Every `pyjinn init` template compiles with `pyjinn build` and answers as a hello function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyjinn.config.model import Limits
from pyjinn.engine.invoke import Sandbox
from pyjinn.engine.invoke import invoke as invoke_once
from pyjinn.engine.modules import ModuleLoader
from pyjinn.scaffold import LANGUAGES, create_function
from pyjinn.toolchain import CompileFailed, build_all
from pyjinn.toolchain.go import find_go
from pyjinn.toolchain.rust import find_rust

from .conftest import GuestRun, Invoke, make_request


def run_python(loader: ModuleLoader, path: Path, stdin: bytes) -> GuestRun:
    """Run a Python function once through pyjinn's own engine."""
    sandbox = Sandbox(loader.engine, Limits(), argv=(path.name,))
    run = invoke_once(loader.engine, loader.load(path, sandbox=sandbox), sandbox, stdin)
    assert run.error is None, (run.error, run.stderr)
    return GuestRun(0, run.stdout, run.stderr.decode(), json.loads(run.stdout))


pytestmark = pytest.mark.slow

# Languages whose toolchain is not a Python dependency: skipped where it is not installed.
TOOLCHAINS = {"rust": find_rust, "go": find_go}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_scaffolded_function_builds_and_says_hello(
    tmp_path: Path, invoke: Invoke, lang: str, request: pytest.FixtureRequest
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
    suffix = ".pyz" if lang == "python" else ".wasm"
    assert result.output == tmp_path / "functions" / f"{name}{suffix}"

    stdin = make_request("/greet?x=1", method="POST", body=b"x" * 100_000)
    if lang == "python":  # run by pyjinn's interpreter, not as a module of its own
        run = run_python(request.getfixturevalue("python_loader"), result.output, stdin)
    else:
        run = invoke(result.output, stdin)
    assert run.exit_code == 0
    assert run.status == 200
    assert run.header("Content-Type") == ["text/plain; charset=utf-8"]
    if lang in ("zig", "rust", "go"):
        assert run.body == f"Hello from {name} (POST /greet)"
    else:
        assert run.body == f"Hello from {name}"

    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.up_to_date
