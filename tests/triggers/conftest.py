"""Fixtures of the trigger tests: apps served in-process with their lifespan (so jobs and
triggers run), and a real Mosquitto broker (``tests.servers.Mosquitto``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection, Services
from tests.servers import Mosquitto, mosquitto_binary


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if mosquitto_binary() is None:
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
