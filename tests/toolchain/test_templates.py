"""Every `pyjinn init` template compiles with `pyjinn build`, answers as a hello function, and
makes a project that `pyjinn up` serves without edits."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pyjinn.scaffold import LANGUAGES, create_project
from pyjinn.toolchain import build_all
from tests.server.test_live import free_port

from .conftest import Invoke, make_request

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_scaffolded_function_builds_and_says_hello(
    tmp_path: Path, invoke: Invoke, lang: str
) -> None:
    name = f"my-{lang}_fn"
    create_project(tmp_path, name, lang)

    (result,) = build_all(tmp_path, echo=lambda line: None)
    assert result.ok, result.message
    assert result.output == tmp_path / "functions" / f"{name}.wasm"

    run = invoke(result.output, make_request("/greet?x=1", method="POST", body=b"x" * 100_000))
    assert run.exit_code == 0
    assert run.status == 200
    assert run.header("Content-Type") == ["text/plain; charset=utf-8"]
    if lang == "zig":
        assert run.body == f"Hello from {name} (POST /greet)"
    else:
        assert run.body == f"Hello from {name}"
    if lang != "wat":
        named = invoke(result.output, make_request("/greet?name=Ada"))
        assert named.body == f"Hello, Ada, from {name}"

    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.up_to_date


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_initialised_project_is_served_by_pyjinn_up_without_edits(
    tmp_path: Path, lang: str
) -> None:
    project = tmp_path / "project"
    create_project(project, "hello", lang)
    port, admin = free_port(), free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "pyjinn", "up", "--port", str(port), "--admin",
             f"127.0.0.1:{admin}", "--workers", "1"],
            cwd=project, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # builds first: a cold zig cache takes a while
        answer = None
        while answer is None or answer.status_code != 200:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.text.startswith("Hello from hello")
        assert f"Built {project / 'functions' / 'hello.wasm'}" in log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
