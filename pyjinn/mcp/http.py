"""MCP over Streamable HTTP at a site's ``mcp`` path, served by the official SDK.

The SDK's session manager runs **stateless** with JSON responses: every POST carries one
JSON-RPC message and gets its answer in the same HTTP response, and no session lives in a
worker. So any worker process can serve any request of a client (workers share the port), and
a reload changes the tools of the very next request.

Before the SDK sees a request, the endpoint authenticates it with the site's API keys
(``Authorization: Bearer KEY`` or ``X-API-Key``, as for functions): when any tool's function takes
keys, a request without a key that one of them accepts gets 401 and never reaches the protocol.
Sites bound to loopback or named by a host name also check ``Host`` and ``Origin`` (DNS
rebinding protection, by the SDK).

The SDK's task group is started on the first MCP request, in the serving event loop, and stopped
by :meth:`McpEndpoint.aclose` (the app's lifespan shutdown).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import weakref
from typing import TYPE_CHECKING, Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from pyjinn.config.model import Address, Site
from pyjinn.mcp.server import build_server
from pyjinn.mcp.tools import UNAUTHORIZED, Caller, ToolTable
from pyjinn.server.asgi import Scope, header

if TYPE_CHECKING:
    from pyjinn.runtime import Runtime

_SCOPE_KEY = "pyjinn.mcp"
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class McpEndpoint:
    """One site's MCP endpoint; ``handle`` serves one HTTP request to its path."""

    def __init__(self, site: Site) -> None:
        self.manager = StreamableHTTPSessionManager(
            build_server(_resolve),
            stateless=True,
            json_response=True,
            security_settings=security_settings(site),
        )
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._stop = asyncio.Event()
        self._tables: weakref.WeakKeyDictionary[Runtime, ToolTable] = weakref.WeakKeyDictionary()

    def table(self, runtime: Runtime, site: Site) -> ToolTable:
        """The site's tools under ``runtime`` (built once per runtime)."""
        table = self._tables.get(runtime)
        if table is None:
            table = self._tables[runtime] = ToolTable(runtime, site)
        return table

    async def handle(
        self, runtime: Runtime, site: Site, scope: Scope, receive: Any, send: Any
    ) -> None:
        table = self.table(runtime, site)
        caller = Caller(
            headers=scope["headers"],
            remote_addr=_remote_addr(scope),
            traceparent=header(scope, b"traceparent"),
        )
        if not table.admits(caller):
            await _unauthorized(send)
            return
        await self._ensure_started()
        await self.manager.handle_request({**scope, _SCOPE_KEY: (table, caller)}, receive, send)

    async def _ensure_started(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pyjinn-mcp")
        await self._started.wait()

    async def _run(self) -> None:
        async with self.manager.run():
            self._started.set()
            await self._stop.wait()

    async def aclose(self) -> None:
        """Stop the SDK's task group (if it started)."""
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None


def _resolve(context: Any) -> tuple[ToolTable, Caller]:
    request = context.request
    found: tuple[ToolTable, Caller] = request.scope[_SCOPE_KEY]
    return found


def security_settings(site: Site) -> TransportSecuritySettings | None:
    """DNS rebinding protection for sites bound to loopback or named by a host; None (off) for
    sites on every interface under any name (``:8080``), which cannot know their names."""
    hosts: list[str] = []
    origins: list[str] = []
    for address in site.addresses:
        if address.host is None:
            return None
        if _is_loopback(address):
            hosts += _LOOPBACK_HOSTS
            origins += _LOOPBACK_ORIGINS
        else:
            name = address.host
            hosts += [name, f"{name}:{address.port}"]
            origins += [
                f"{scheme}://{name}{port}"
                for scheme in ("http", "https")
                for port in ("", f":{address.port}")
            ]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(set(hosts)),
        allowed_origins=sorted(set(origins)),
    )


def _is_loopback(address: Address) -> bool:
    host = address.host or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _remote_addr(scope: Scope) -> str:
    client = scope.get("client")
    if not client:
        return ""
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _unauthorized(send: Any) -> None:
    body = json.dumps({"error": UNAUTHORIZED}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="pyjinn"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
