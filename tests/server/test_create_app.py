"""``create_app``: nothing starts at import; services start with the app (lifespan, or its
first request); under ``uvicorn --workers 2`` every worker serves, sharing one embedded
nats-server; mounted in Starlette with ``lifespan=functions.lifespan`` it serves too."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from pyjinn.server.app import create_app
from tests.helpers import KV_IMPORTS, PYJINN_IMPORTS, abi_guest, wat_writing
from tests.server.test_live import free_port

pytestmark = pytest.mark.slow

KV_GRANTS = "permissions {\n kv_read notes\n kv_write notes\n }"


def kv_project(root: Path) -> Path:
    """A Caddyfile with /write (sets notes/a to "hello": answers 0) and /read (answers 5)."""
    calls = {
        "writer": "(i64.extend_i32_s (call $kv_set (i32.const 0) (i32.const 7) (i32.const 16) "
        "(i32.const 5)))",
        "reader": "(call $kv_get (i32.const 0) (i32.const 7))",
    }
    for name, call in calls.items():
        module = abi_guest(PYJINN_IMPORTS + KV_IMPORTS, [call], {0: "notes/a", 16: "hello"})
        (root / f"{name}.wat").write_text(module)
    caddyfile = root / "Caddyfile"
    caddyfile.write_text(
        ":8080 {\n"
        f"  handle /write {{\n    pyjinn writer.wat {{\n {KV_GRANTS}\n }}\n  }}\n"
        f"  handle /read {{\n    pyjinn reader.wat {{\n {KV_GRANTS}\n }}\n  }}\n"
        "}\n"
    )
    return caddyfile


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan as an ASGI server would, and a client for it meanwhile."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    task = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await task


def nats_servers_of(store: Path) -> list[int]:
    """The processes running nats-server on ``store``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().split(b"\0")
                if command[0].endswith(b"nats-server") and str(store).encode() in b" ".join(
                    command
                ):
                    found.append(int(entry.name))
    return found


def test_two_uvicorn_workers_serve_and_share_one_embedded_nats_server(tmp_path: Path) -> None:
    kv_project(tmp_path)
    (tmp_path / "served.py").write_text(
        "from pyjinn.server.app import create_app\n\napp = create_app('Caddyfile')\n"
    )
    port = free_port()
    log = tmp_path / "uvicorn.log"
    environment = dict(os.environ)
    environment["PYTHONPATH"] = f"{tmp_path}:{environment.get('PYTHONPATH', '')}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "served:app", "--workers", "2", "--port",
             str(port), "--log-level", "info"],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, env=environment,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/write", timeout=5).text == "0":
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        for _ in range(30):  # new connections: both workers answer
            assert httpx.get(f"http://127.0.0.1:{port}/write", timeout=5).text == "0"
            assert httpx.get(f"http://127.0.0.1:{port}/read", timeout=5).text == "5"
        time.sleep(2)  # a worker that crash-loops would have been restarted by now
        text = log.read_text()
        started = set(re.findall(r"Started server process \[(\d+)\]", text))
        assert len(started) == 2, text
        assert "in use" not in text and "Traceback" not in text, text
        assert len(nats_servers_of(tmp_path / "data" / "nats")) == 1
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


@pytest.mark.anyio
async def test_mounted_in_starlette_with_its_lifespan_it_starts_with_the_host_app(
    tmp_path: Path,
) -> None:
    (tmp_path / "fn.wat").write_text(wat_writing('{"body":"mounted"}'))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(":8080 {\n  handle /fn {\n    pyjinn fn.wat\n  }\n}\n")

    functions = create_app(caddyfile)
    assert not (tmp_path / "data" / "nats" / "connect.json").exists()  # nothing at import
    host = Starlette(routes=[Mount("/functions", app=functions)], lifespan=functions.lifespan)

    async with serving(host) as client:
        assert functions.runtime.services.nats is not None  # started by the lifespan
        assert (await client.get("/functions/fn")).text == "mounted"
    assert (tmp_path / "data" / "nats" / "connect.json").exists()


@pytest.mark.anyio
async def test_an_app_whose_lifespan_never_runs_starts_on_its_first_request(
    tmp_path: Path,
) -> None:
    caddyfile = kv_project(tmp_path)
    functions = create_app(caddyfile)
    host = Starlette(routes=[Mount("/functions", app=functions)])  # no lifespan given

    try:
        async with serving(host) as client:
            assert (await client.get("/functions/write")).text == "0"
            assert (await client.get("/functions/read")).text == "5"
    finally:
        functions.close()


@pytest.mark.anyio
async def test_the_readme_mount_snippet_runs(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    [snippet] = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "hello.wasm").write_bytes(
        __import__("wasmtime").wat2wasm(wat_writing('{"body":"Hello from hello"}'))
    )
    (tmp_path / "Caddyfile").write_text(
        ":8080 {\n  handle /hello {\n    pyjinn functions/hello.wasm\n  }\n}\n"
    )
    namespace: dict[str, Any] = {}
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(textwrap.dedent(snippet), "README.md", "exec"), namespace)
        async with serving(namespace["app"]) as client:
            assert (await client.get("/functions/hello")).text == "Hello from hello"
    finally:
        os.chdir(here)
