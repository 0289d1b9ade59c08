"""Fixtures of the trigger tests: apps served in-process with their lifespan (so jobs and
triggers run), and a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection, Services
from tests.servers import free_ports


class Mosquitto:
    """Debian's mosquitto on a random loopback port, anonymous, in memory; stopped by PID."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_ports(1)[0]
        self.log = directory / "mosquitto.log"
        config = directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type all\n"
        )
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [binary, "-c", str(config)], stdout=output, stderr=output
            )
        deadline = time.monotonic() + 10
        while "mosquitto version" not in self.log.read_text(errors="replace") or not _listening(
            self.port
        ):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path)
    yield broker
    broker.stop()


@contextlib.asynccontextmanager
async def serving(app: PyjinnApp) -> AsyncIterator[PyjinnApp]:
    """Run ``app``'s lifespan: startup (jobs and triggers start), then shutdown."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.get_running_loop().create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    started = await asyncio.wait_for(outbox.get(), 30)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(outbox.get(), 30)
        await asyncio.wait_for(task, 30)


@pytest.fixture
def make_app(
    make_runtime: Callable[..., Runtime], nats_connection: NatsConnection
) -> Iterator[Callable[..., PyjinnApp]]:
    """An app on the session's nats-server, with services of its own (one per 'process')."""
    made: list[Services] = []

    def make(caddyfile: str, options: str = "") -> PyjinnApp:
        services = Services(nats_connection)
        made.append(services)
        return PyjinnApp(make_runtime(caddyfile, options, services))

    yield make
    for services in made:
        services.close()


def unique(prefix: str) -> str:
    """A name no other test uses (tenants, functions, subjects on the shared nats-server)."""
    return f"{prefix}{os.urandom(4).hex()}"


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll an async or plain ``condition`` until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
