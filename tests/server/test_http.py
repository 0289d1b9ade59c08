"""A worker's HTTP server against slow, idle and too many clients: real ``pyjinn up``, real
sockets on loopback. Timeouts are set small in each Caddyfile; bounds on elapsed times are
generous because the machine is shared."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pyjinn.server.http import default_max_connections, raise_open_file_limit
from tests.helpers import HELLO, wat_writing
from tests.server.test_live import Server, start

SERVERS = """
    servers {
        timeouts {
            read_header READ_HEADER
            read_body 1s
            idle 2s
        }
        max_connections MAX_CONNECTIONS
    }
"""
SITE = """
:PORT {
    handle /hello {
        pyjinn hello.wat
    }
    handle /behave {
        pyjinn behave.wasm
    }
}
"""


@pytest.fixture
def serve_guarded(tmp_path: Path, project, c_guest) -> Iterator[Callable[..., Server]]:
    project("hello.wat", wat_writing(HELLO))
    project("behave.wasm", c_guest("behave"))
    servers: list[Server] = []

    def run(*, read_header: str = "1s", max_connections: int = 1000) -> Server:
        options = SERVERS.replace("READ_HEADER", read_header).replace(
            "MAX_CONNECTIONS", str(max_connections)
        )
        server = start(tmp_path, SITE, options=options)
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


@dataclass
class Closed:
    """How the server ended a connection: what it sent first, and after how long."""

    kind: str
    received: bytes
    seconds: float


async def slow_client(port: int, kind: str) -> Closed:
    """A client that sends its headers a line at a time (``headers``; ``second``: those of its
    second request, after a first one answered), stops in the middle of its body (``body``) or
    sends nothing (``nothing``), and waits for the server to close."""
    started = time.monotonic()  # before connecting: the server's deadline starts at its accept
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    dripping: asyncio.Task[None] | None = None
    if kind == "second":
        writer.write(b"GET /hello HTTP/1.1\r\nHost: slow\r\n\r\n")
        await reader.readuntil(b"hello")
        started = time.monotonic()
    if kind in ("headers", "second"):
        writer.write(b"GET /hello HTTP/1.1\r\nHost: slow\r\n")

        async def drip() -> None:
            with contextlib.suppress(OSError):
                while True:
                    await asyncio.sleep(0.2)
                    writer.write(b"X-Slow: still-coming\r\n")
                    await writer.drain()

        dripping = asyncio.create_task(drip())
    elif kind == "body":
        head = b"POST /behave HTTP/1.1\r\nHost: slow\r\nContent-Length: 1000\r\n\r\n"
        writer.write(head + b"a" * 10)
    try:
        received = await asyncio.wait_for(reader.read(), timeout=20)
    except ConnectionResetError:
        received = b""
    finally:
        if dripping is not None:
            dripping.cancel()
        writer.close()
    return Closed(kind, received, time.monotonic() - started)


async def steady_client(url: str, stop: asyncio.Event) -> list[int]:
    """GET /hello over a new connection each time until ``stop``; the statuses received."""
    statuses: list[int] = []
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        while not stop.is_set():
            statuses.append((await client.get(f"{url}/hello")).status_code)
            await asyncio.sleep(0.05)
    return statuses


def test_slow_and_silent_clients_are_cut_off_while_others_keep_getting_200(
    serve_guarded,
) -> None:
    server = serve_guarded()
    port = int(server.url.rsplit(":", 1)[1])

    async def attack() -> tuple[list[Closed], list[int]]:
        stop = asyncio.Event()
        steady = asyncio.create_task(steady_client(server.url, stop))
        slow = [
            slow_client(port, kind)
            for kind in ("headers", "body", "nothing", "second")
            for _ in range(40 if kind != "second" else 10)
        ]
        closed = await asyncio.gather(*slow)
        await asyncio.sleep(0.5)  # and serving goes on afterwards
        stop.set()
        return list(closed), await steady

    closed, statuses = asyncio.run(attack())
    assert len(statuses) >= 10
    assert set(statuses) == {200}
    for connection in closed:
        # Every deadline is 1 s; nothing is cut off before it, and nothing is left open.
        assert 0.9 <= connection.seconds < 10, connection
        if connection.kind == "nothing":
            assert connection.received == b"", connection
        elif connection.kind == "second":
            assert connection.received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), connection
        else:
            assert connection.received.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), connection
            assert b"connection: close\r\n" in connection.received
    access = [record for record in server.logs() if record.get("logger") == "pyjinn.access"]
    body_timeouts = [record for record in access if record["status"] == 408]
    assert len(body_timeouts) == 40
    assert {record["outcome"] for record in body_timeouts} == {"request_timeout"}
    assert {record["blame"] for record in body_timeouts} == {"client"}
    # The function never ran for a request whose body never came.
    assert not [record for record in server.logs() if record.get("logger") == "pyjinn.guest"]


def test_a_kept_alive_connection_is_closed_after_idle(serve_guarded) -> None:
    server = serve_guarded()
    port = int(server.url.rsplit(":", 1)[1])

    async def keep_alive() -> tuple[bytes, float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: idle\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        answered = time.monotonic()
        rest = await asyncio.wait_for(reader.read(), timeout=20)
        writer.close()
        return head + rest, time.monotonic() - answered

    received, idle = asyncio.run(keep_alive())
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.lower().count(b"\r\ndate: ") == 1
    assert 1.5 <= idle < 10


def test_connections_beyond_max_connections_are_refused_and_served_again_later(
    serve_guarded,
) -> None:
    server = serve_guarded(read_header="3s", max_connections=10)
    port = int(server.url.rsplit(":", 1)[1])

    async def fill_then_ask() -> tuple[list[Closed], bytes, float]:
        holders = [asyncio.create_task(slow_client(port, "nothing")) for _ in range(10)]
        await asyncio.sleep(0.5)  # all ten accepted by now
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            refused = await asyncio.wait_for(reader.read(), timeout=20)
        except ConnectionResetError:
            refused = b""
        seconds = time.monotonic() - started
        writer.close()
        return list(await asyncio.gather(*holders)), refused, seconds

    holders, refused, seconds = asyncio.run(fill_then_ask())
    # Refused at once, before sending anything, with a 503 (the client sent nothing yet, so
    # nothing can reset it first).
    assert seconds < 2
    assert refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"retry-after: 1\r\n" in refused
    assert all(holder.received == b"" for holder in holders)
    # The ten were closed by the header timeout; the worker serves again.
    assert httpx.get(f"{server.url}/hello", timeout=10).status_code == 200
    warnings = [r for r in server.logs() if "max_connections (10)" in r.get("message", "")]
    assert warnings and warnings[0]["level"] == "warning"


def test_the_open_file_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 256)
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        assert raise_open_file_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_default_connection_cap_leaves_a_quarter_of_the_file_limit() -> None:
    assert default_max_connections(20_000) == 15_000
    assert default_max_connections(1024) == 768
    assert default_max_connections(1) == 1
