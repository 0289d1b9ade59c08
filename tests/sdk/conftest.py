from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pyjinn.config import loads
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import ModuleLoader
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.services import Services
from tests.sdk.support import StoreClient, tenant_caddyfile


@pytest.fixture
async def store_client(make_runtime, kv_services) -> AsyncIterator[StoreClient]:
    """``store_client(caddyfile)``: a client for a runtime backed by the session's nats-server,
    acting for a tenant of its own."""
    clients: list[httpx.AsyncClient] = []

    def make(caddyfile: str, loader: ModuleLoader | None = None) -> httpx.AsyncClient:
        runtime = make_runtime(tenant_caddyfile(caddyfile), services=kv_services, loader=loader)
        transport = httpx.ASGITransport(app=PyjinnApp(runtime))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
def sdk_loader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleLoader]:
    """One engine and compile cache for the SDK tests, so each probe compiles once per session
    (a Go module takes seconds), while every test still has a runtime and sandboxes of its own."""
    engine = Engine(max_instances=256)
    yield ModuleLoader(engine, tmp_path_factory.mktemp("compiled"))
    engine.close()


@pytest.fixture
def make_runtime(tmp_path: Path, sdk_loader: ModuleLoader) -> Iterator[Callable[..., Runtime]]:
    """The shared ``make_runtime``, with the session's ``sdk_loader``."""
    runtimes: list[Runtime] = []

    def make(
        caddyfile: str,
        options: str = "",
        services: Services | None = None,
        loader: ModuleLoader | None = None,
    ) -> Runtime:
        """As the shared one; ``loader`` replaces the session's (Python's interpreter)."""
        extra = f"\t{options}\n" if options else ""
        text = f"{{\n\tadmin off\n\tmax_instances 256\n{extra}}}\n" + textwrap.dedent(caddyfile)
        config = loads(text, base_dir=tmp_path, environ={})
        runtimes.append(Runtime(config, loader=loader or sdk_loader, services=services))
        return runtimes[-1]

    yield make
    for runtime in runtimes:
        runtime.close()
