"""The official ``mcp`` SDK's low-level server, answering ``tools/list`` and ``tools/call`` from a
``ToolTable``. The SDK does the protocol: ``initialize`` and version negotiation, ``ping``,
JSON-RPC errors, and (for 2026-07-28 clients) ``server/discover``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.shared.exceptions import MCPError

from pyjinn import __version__
from pyjinn.mcp.tools import Caller, ToolTable

Resolve = Callable[[Any], tuple[ToolTable, Caller]]
"""From the SDK's request context to the site's tool table and the caller."""


def build_server(resolve: Resolve) -> Server[Any]:
    """A server whose tools are whatever ``resolve`` finds for each request."""

    async def list_tools(
        context: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        table, caller = resolve(context)
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=tool.name,
                    description=tool.spec.tool.description if tool.spec.tool else None,
                    input_schema=tool.schema,
                )
                for tool in table.visible(caller)
            ]
        )

    async def call_tool(context: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        table, caller = resolve(context)
        tool = table.find(params.name, caller)
        if tool is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        result = await table.call(tool, dict(params.arguments or {}), caller)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.text)],
            structured_content=result.structured,
            is_error=result.is_error,
        )

    server: Server[Any] = Server(
        "pyjinn", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool
    )
    # pyjinn traces each tool call as an invocation; the SDK's own per-message spans would only
    # duplicate them (and would appear in an embedding application's traces).
    server.middleware = []
    return server
