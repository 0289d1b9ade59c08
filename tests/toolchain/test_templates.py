"""Every `pyjinn init` template compiles with `pyjinn build`, answers as a hello function, and
makes a project that `pyjinn up` serves without edits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from pyjinn.config.model import Limits
from pyjinn.engine.invoke import Sandbox
from pyjinn.engine.invoke import invoke as invoke_once
from pyjinn.engine.modules import ModuleLoader
from pyjinn.errors import PyjinnError
from pyjinn.interpreters.python import find_artifacts
from pyjinn.scaffold import LANGUAGES, create_project
from pyjinn.toolchain import CompileFailed, build_all
from pyjinn.toolchain.go import find_go
from pyjinn.toolchain.rust import find_rust
from tests.server.test_live import free_port

from .conftest import GuestRun, Invoke, make_request

pytestmark = pytest.mark.slow

# Languages whose toolchain (or interpreter) is not a Python dependency: skipped where it is
# not installed.
TOOLCHAINS: dict[str, Callable[[], object]] = {
    "rust": find_rust,
    "go": find_go,
    "python": find_artifacts,
}


def skip_without_toolchain(lang: str) -> None:
    if lang in TOOLCHAINS:
        try:
            TOOLCHAINS[lang]()
        except (CompileFailed, PyjinnError) as error:
            pytest.skip(str(error))


def run_python(loader: ModuleLoader, path: Path, stdin: bytes) -> GuestRun:
    """Run a Python function once through pyjinn's own engine."""
    sandbox = Sandbox(loader.engine, Limits(), argv=(path.name,))
    run = invoke_once(loader.engine, loader.load(path, sandbox=sandbox), sandbox, stdin)
    assert run.error is None, (run.error, run.stderr)
    return GuestRun(0, run.stdout, run.stderr.decode(), json.loads(run.stdout))


def module_name(name: str, lang: str) -> str:
    return f"{name}.pyz" if lang == "python" else f"{name}.wasm"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_scaffolded_function_builds_and_says_hello(
    tmp_path: Path, invoke: Invoke, lang: str, request: pytest.FixtureRequest
) -> None:
    skip_without_toolchain(lang)
    name = f"my-{lang}_fn"
    create_project(tmp_path, name, lang)

    (result,) = build_all(tmp_path, echo=lambda line: None)
    assert result.ok, result.message
    assert result.output == tmp_path / "functions" / module_name(name, lang)

    def run(stdin: bytes) -> GuestRun:
        if lang == "python":  # run by pyjinn's interpreter, not as a module of its own
            return run_python(request.getfixturevalue("python_loader"), result.output, stdin)
        return invoke(result.output, stdin)

    answer = run(make_request("/greet?x=1", method="POST", body=b"x" * 100_000))
    assert answer.exit_code == 0
    assert answer.status == 200
    assert answer.header("Content-Type") == ["text/plain; charset=utf-8"]
    if lang in ("zig", "rust", "go"):
        assert answer.body == f"Hello from {name} (POST /greet)"
    else:
        assert answer.body == f"Hello from {name}"
    if lang in ("c", "zig"):  # the templates that read ?name= with the SDK
        named = run(make_request("/greet?name=Ada"))
        assert named.body == f"Hello, Ada, from {name}"

    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.up_to_date


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_initialised_project_is_served_by_pyjinn_up_without_edits(
    tmp_path: Path, lang: str
) -> None:
    skip_without_toolchain(lang)
    project = tmp_path / "project"
    create_project(project, "hello", lang)
    with pyjinn_up(project, tmp_path / "up.log") as (port, log, server):
        answer = first_answer(f"http://127.0.0.1:{port}/hello", 200, log, server)
        assert answer.text.startswith("Hello from hello")
        assert f"Built {project / 'functions' / module_name('hello', lang)}" in log.read_text()


@pytest.mark.parametrize("lang", ["c", "zig"])
def test_an_actor_project_is_served_by_pyjinn_up_and_echoes_over_a_websocket(
    tmp_path: Path, lang: str
) -> None:
    project = tmp_path / "project"
    create_project(project, "echo", lang, "actor")
    with pyjinn_up(project, tmp_path / "up.log") as (port, log, server):
        answer = first_answer(f"http://127.0.0.1:{port}/echo", 426, log, server)
        assert answer.text == "connect with a WebSocket client\n"
        with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=30) as connection:
            connection.send("hello")
            assert connection.recv(timeout=10) == "hello"
            connection.send(b"\x00\x01")
            assert connection.recv(timeout=10) == b"\x00\x01"


@contextmanager
def pyjinn_up(project: Path, log: Path) -> Iterator[tuple[int, Path, subprocess.Popen[bytes]]]:
    """``pyjinn up`` serving ``project`` with one worker on a free port, its output in ``log``:
    (the port, the log, the process); stopped with SIGTERM."""
    port, admin = free_port(), free_port()
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "pyjinn", "up", "--port", str(port), "--admin",
             f"127.0.0.1:{admin}", "--workers", "1"],
            cwd=project, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield port, log, server
        assert server.poll() is None, log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def first_answer(
    url: str, status: int, log: Path, server: subprocess.Popen[bytes]
) -> httpx.Response:
    """The first answer of ``url`` with ``status``, asked until it comes: ``pyjinn up`` builds
    first (a cold zig cache, Go's runtime or the Python interpreter take a while)."""
    deadline = time.monotonic() + 300
    while True:
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        try:
            answer = httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if answer.status_code == status:
            return answer
        time.sleep(0.1)
