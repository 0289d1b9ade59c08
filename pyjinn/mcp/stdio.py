"""``pyjinn mcp [CADDYFILE]``: a site's tools over the stdio transport, for desktop clients.

The client starts ``pyjinn mcp`` as a subprocess and speaks JSON-RPC on its stdin and stdout
(the SDK's stdio transport); logs go to stderr. The caller is whoever started the process, with
the key in ``PYJINN_API_KEY`` when the site's tools take API keys (the same rule as over HTTP:
without a key such tools are not served). Tool calls run through the same pipeline as HTTP
requests: same sandbox, limits, tenants, metrics and access records.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pyjinn.config.model import Config, Site
from pyjinn.errors import PyjinnError
from pyjinn.mcp.tools import Caller, ToolTable

API_KEY_VARIABLE = "PYJINN_API_KEY"


class McpStdioError(PyjinnError):
    """The configuration cannot be served over stdio (no tools, unknown site, no key)."""


def choose_site(config: Config, address: str | None) -> Site:
    """The site whose tools to serve: the one listening on ``address`` (like ``:8080``), else
    the only site with tools."""
    with_tools = [site for site in config.sites if any(spec.tool for spec in site.functions())]
    if address is not None:
        for site in with_tools:
            if any(
                str(listen) == address or f":{listen.port}" == address for listen in site.addresses
            ):
                return site
        raise McpStdioError(f"no site with tools listens on {address}")
    if not with_tools:
        raise McpStdioError("no function of this Caddyfile has an ai_tool block")
    if len(with_tools) > 1:
        addresses = ", ".join(str(site.addresses[0]) for site in with_tools)
        raise McpStdioError(f"several sites have tools ({addresses}); choose one with --site")
    return with_tools[0]


def caller_from_environment() -> Caller:
    key = os.environ.get(API_KEY_VARIABLE, "").strip()
    headers = [(b"authorization", f"Bearer {key}".encode())] if key else []
    return Caller(headers=headers, remote_addr="stdio")


def serve(caddyfile: Path, site_address: str | None = None) -> None:
    """Serve the chosen site's tools on stdin/stdout until the client closes them."""
    from pyjinn.server.app import create_app

    app = create_app(caddyfile)
    try:
        runtime = app.runtime
        site = choose_site(runtime.config, site_address)
        table = ToolTable(runtime, site)
        caller = caller_from_environment()
        if not table.admits(caller):
            raise McpStdioError(
                f"the tools of this site take API keys: set {API_KEY_VARIABLE} to one of them"
            )
        asyncio.run(_serve(table, caller))
    finally:
        app.close()


async def _serve(table: ToolTable, caller: Caller) -> None:
    from mcp.server.stdio import stdio_server

    from pyjinn.mcp.server import build_server

    table.runtime.start()
    server = build_server(lambda context: (table, caller))
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
