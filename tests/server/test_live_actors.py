"""WebSocket actors under ``pyjinn up``: a real worker process, its guarded HTTP protocol handing
upgrades to uvicorn's WebSocket protocol, and many clients at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.sdk.support import build_c
from tests.server.test_actors import ACTOR_SOURCE
from tests.server.test_live import start

pytestmark = pytest.mark.slow

CONNECTIONS = 500

SITE = """
:PORT {
    pyjinn /ws actor.wasm {
        name actor
        timeout 60s
        pool_size 600
        pool_wait 30s
        permissions {
            websocket
        }
    }
    respond /health "ok"
}
"""


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.split(":", 1) for line in status.read().splitlines() if ":" in line)


def _rss(pid: int) -> int:
    return int(_status(pid)["VmRSS"].split()[0]) * 1024


def _threads(pid: int) -> int:
    return int(_status(pid)["Threads"])


def test_500_concurrent_connections_each_hold_a_sandbox_and_http_keeps_being_served(
    tmp_path: Path,
) -> None:
    (tmp_path / "actor.wasm").write_bytes(build_c(ACTOR_SOURCE.read_text()).read_bytes())
    server = start(tmp_path, SITE, options="max_instances 1000")
    url = server.url.replace("http://", "ws://") + "/ws"
    try:
        (worker,) = server.worker_pids()
        # Warm up: the module's first sandbox, the first guest thread.
        asyncio.run(_echo_once(url))
        time.sleep(0.5)
        before_rss, before_threads = _rss(worker), _threads(worker)

        async def hold_all() -> tuple[int, int, float]:
            connections = []
            try:
                for batch in range(0, CONNECTIONS, 50):
                    opened = await asyncio.gather(
                        *(connect(url, open_timeout=60) for _ in range(batch, batch + 50))
                    )
                    connections.extend(opened)
                for index, connection in enumerate(connections):
                    await connection.send(f"hello {index}")
                answers = await asyncio.gather(
                    *(asyncio.wait_for(c.recv(), 60) for c in connections)
                )
                assert answers == [f"hello {index}" for index in range(CONNECTIONS)]
                await asyncio.sleep(1)  # idle: each guest waits in ws_read
                rss, threads = _rss(worker), _threads(worker)
                started = time.monotonic()
                async with httpx.AsyncClient() as client:
                    health = await client.get(f"{server.url}/health", timeout=10)
                assert health.text == "ok"
                http_seconds = time.monotonic() - started
                for connection in connections:  # every connection still answers
                    await connection.send("again")
                again = await asyncio.gather(*(asyncio.wait_for(c.recv(), 60) for c in connections))
                assert again == ["again"] * CONNECTIONS
                return rss, threads, http_seconds
            finally:
                await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)

        rss, threads, http_seconds = asyncio.run(hold_all())
        per_connection = (rss - before_rss) / CONNECTIONS
        print(
            f"\n{CONNECTIONS} idle connections: worker RSS {before_rss / 2**20:.0f} -> "
            f"{rss / 2**20:.0f} MiB ({per_connection / 1024:.0f} KiB per connection), threads "
            f"{before_threads} -> {threads}, a plain request meanwhile {http_seconds * 1000:.0f} ms"
        )
        assert threads - before_threads >= CONNECTIONS - 1  # one guest thread per connection
        assert per_connection < 2 * 1024 * 1024
        assert http_seconds < 5
        # Every sandbox is given back once its connection closed, and the metrics saw them all.
        deadline = time.monotonic() + 30
        while _metric(server.admin, 'pyjinn_instances_in_flight{function="actor"}') != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        while _metric(server.admin, 'pyjinn_websocket_connections_open{function="actor"}') != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        incoming = 'pyjinn_websocket_messages_total{direction="in",function="actor"}'
        assert _metric(server.admin, incoming) == 2 * CONNECTIONS + 1
    finally:
        assert server.stop() == 0


def test_a_connection_outlives_the_servers_read_timeouts(tmp_path: Path) -> None:
    (tmp_path / "actor.wasm").write_bytes(build_c(ACTOR_SOURCE.read_text()).read_bytes())
    options = "servers {\n\t\ttimeouts {\n\t\t\tread_header 1s\n\t\t\tread_body 1s\n\t\t}\n\t}"
    server = start(tmp_path, SITE, options=options)
    url = server.url.replace("http://", "ws://") + "/ws"

    async def talk() -> None:
        async with connect(url) as connection:
            for _ in range(6):  # 3 s: past both of the HTTP protocol's read timeouts
                await connection.send("still open")
                assert await asyncio.wait_for(connection.recv(), 10) == "still open"
                await asyncio.sleep(0.5)

    try:
        asyncio.run(talk())
    finally:
        assert server.stop() == 0


def _metric(admin: str, sample: str) -> float | None:
    """One sample's value from the admin listener's /metrics (None when it is not there)."""
    for line in httpx.get(f"{admin}/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def _echo_once(url: str) -> None:
    async with connect(url) as connection:
        await connection.send("warm")
        assert await connection.recv() == "warm"
