from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from pyjinn.engine.modules import ModuleLoader
from pyjinn.server.app import PyjinnApp
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
