"""Functions as MCP tools over Streamable HTTP, with the official Python SDK's client and with
plain JSON-RPC posts, against pyjinn on a real loopback socket."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from pyjinn.observability.metrics import REGISTRY
from tests.mcp.conftest import SCHEMA_2020_12, run

pytestmark = pytest.mark.slow

ACME = "acme-key-0123456789abcdef"
GLOBEX = "globex-key-0123456789abcdef"

ECHO_SCHEMA = '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}'
SITE = f"""
127.0.0.1:{{port}} {{
    handle /echo {{
        pyjinn envelope.wasm {{
            name echo
            ai_tool {{
                name echo
                description "Echo the arguments"
                schema `{ECHO_SCHEMA}`
            }}
        }}
    }}
    gojinn /simple gojinn.wasm {{
        name simple
        ai_tool {{
            name test_simple_text
            description "Answers a fixed text"
        }}
    }}
    pyjinn /trap trap.wat {{
        ai_tool {{
            name test_error_handling
            description "Always fails"
        }}
    }}
    pyjinn /schema envelope.wasm {{
        name schema
        ai_tool {{
            name json_schema_2020_12_tool
            description "Tool with JSON Schema 2020-12 features"
            schema `{SCHEMA_2020_12}`
        }}
    }}
}}
"""

KEYED_SITE = f"""
127.0.0.1:{{port}} {{
    pyjinn /acme envelope.wasm {{
        name acme_tool
        api_key {ACME} acme
        ai_tool {{
            name acme_echo
            description "acme's echo"
        }}
    }}
    pyjinn /globex envelope.wasm {{
        name globex_tool
        api_key {GLOBEX} globex
        ai_tool {{
            name globex_echo
            description "globex's echo"
        }}
    }}
}}
"""


@contextlib.asynccontextmanager
async def client(url: str, mode: str = "auto", key: str | None = None) -> AsyncIterator[Client]:
    """The SDK's client, presenting ``key`` as a Bearer token when given."""
    headers = {"Authorization": f"Bearer {key}"} if key else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as connected,
    ):
        yield connected


def rpc(
    url: str, method: str, params: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    """One JSON-RPC request, as a 2025-11-25 client sends it after initializing."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    return httpx.post(
        url,
        json=message,
        headers={
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
            **headers,
        },
        timeout=30,
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_the_sdk_client_lists_and_calls_tools(serve, tool_guests, mode: str) -> None:
    live = serve(SITE)

    async def session() -> None:
        async with client(f"{live.url}/mcp", mode) as mcp_client:
            tools = {tool.name: tool for tool in (await mcp_client.list_tools()).tools}
            assert set(tools) == {
                "echo",
                "test_simple_text",
                "test_error_handling",
                "json_schema_2020_12_tool",
            }
            assert tools["echo"].description == "Echo the arguments"
            assert tools["echo"].input_schema["required"] == ["text"]  # an object, not a string
            echoed = await mcp_client.call_tool("echo", {"text": "hi"})
            assert echoed.is_error is False
            assert echoed.structured_content == {
                "method": "MCP",
                "tenant": "default",
                "arguments": {"text": "hi"},
            }
            assert json.loads(echoed.content[0].text) == echoed.structured_content
            simple = await mcp_client.call_tool("test_simple_text", {})
            assert simple.content[0].text == "This is a simple text response for testing."
            assert simple.structured_content is None
            if mode == "legacy":  # ping is a handshake-era method (the SDK warns of it)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", MCPDeprecationWarning)
                    await mcp_client.send_ping()

    run(session())


def test_a_gojinn_tool_gets_the_bare_arguments_and_answers_text(serve, tool_guests) -> None:
    live = serve(SITE)

    async def call() -> Any:
        async with client(f"{live.url}/mcp") as mcp_client:
            return await mcp_client.call_tool("test_simple_text", {"x": 1})

    result = run(call())
    assert result.content[0].text == 'you said {"x":1}'


def test_a_failing_function_is_a_tool_error_with_a_message(serve, tool_guests) -> None:
    live = serve(SITE)

    async def call() -> Any:
        async with client(f"{live.url}/mcp") as mcp_client:
            return await mcp_client.call_tool("test_error_handling", {})

    result = run(call())
    assert result.is_error is True
    assert result.content[0].text.startswith("function crashed")
    assert "trace_id" in result.content[0].text


def test_arguments_are_validated_before_any_sandbox_starts(serve, tool_guests) -> None:
    REGISTRY.reset()
    live = serve(SITE)
    response = rpc(f"{live.url}/mcp", "tools/call", {"name": "echo", "arguments": {"text": 5}})
    result = response.json()["result"]
    assert result["isError"] is True
    assert (
        "invalid arguments for tool echo at text: 5 is not of type 'string'"
        in (result["content"][0]["text"])
    )
    outcomes = {
        labels[1]: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_invocations" and labels[0] == "echo"
    }
    assert outcomes == {"invalid_arguments": 1}
    assert all(
        not isinstance(value, int) or value == 0
        for family, labels, value in REGISTRY.snapshot()
        if family.name == "pyjinn_fuel_consumed"
    )


def test_an_unknown_tool_is_a_protocol_error(serve, tool_guests) -> None:
    live = serve(SITE)
    error = rpc(f"{live.url}/mcp", "tools/call", {"name": "nope", "arguments": {}}).json()["error"]
    assert error["code"] == -32602
    assert "Unknown tool: nope" in error["message"]


def test_the_2020_12_schema_is_served_as_written(serve, tool_guests) -> None:
    live = serve(SITE)
    tools = rpc(f"{live.url}/mcp", "tools/list").json()["result"]["tools"]
    schema = next(tool for tool in tools if tool["name"] == "json_schema_2020_12_tool")[
        "inputSchema"
    ]
    assert schema == json.loads(SCHEMA_2020_12)


def test_a_tool_call_is_an_invocation_with_an_access_record(serve, tool_guests, caplog) -> None:
    REGISTRY.reset()
    live = serve(SITE)
    with caplog.at_level("INFO", logger="pyjinn.access"):
        rpc(f"{live.url}/mcp", "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    (record,) = [record for record in caplog.records if record.name == "pyjinn.access"]
    assert (record.method, record.path, record.status, record.function) == (
        "MCP",
        "/mcp#echo",
        200,
        "echo",
    )
    outcomes = {
        labels[1:]: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_invocations" and labels[0] == "echo"
    }
    assert outcomes == {("ok", "default"): 1}


def test_with_api_keys_a_request_without_one_gets_401(serve, tool_guests) -> None:
    live = serve(KEYED_SITE)
    response = rpc(f"{live.url}/mcp", "tools/list")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="pyjinn"'
    assert (
        rpc(
            f"{live.url}/mcp", "tools/list", Authorization="Bearer wrong-key-0123456789"
        ).status_code
        == 401
    )


def test_a_client_sees_and_calls_only_its_tenants_tools(serve, tool_guests) -> None:
    live = serve(KEYED_SITE)

    async def session(key: str) -> tuple[set[str], Any, Any]:
        async with client(f"{live.url}/mcp", key=key) as mcp_client:
            names = {tool.name for tool in (await mcp_client.list_tools()).tools}
            own = await mcp_client.call_tool(sorted(names)[0], {"a": 1})
            other = "globex_echo" if "acme_echo" in names else "acme_echo"
            try:
                foreign = await mcp_client.call_tool(other, {})
            except MCPError as error:
                foreign = error
            return names, own, foreign

    names, own, foreign = run(session(ACME))
    assert names == {"acme_echo"}
    assert own.structured_content["tenant"] == "acme"
    assert isinstance(foreign, MCPError) and "Unknown tool: globex_echo" in str(foreign)
    names, own, _ = run(session(GLOBEX))
    assert names == {"globex_echo"}
    assert own.structured_content["tenant"] == "globex"


def test_the_x_api_key_header_works_too(serve, tool_guests) -> None:
    live = serve(KEYED_SITE)
    tools = rpc(f"{live.url}/mcp", "tools/list", **{"X-API-Key": GLOBEX}).json()["result"]["tools"]
    assert [tool["name"] for tool in tools] == ["globex_echo"]


def test_a_loopback_site_refuses_a_foreign_host_header(serve, tool_guests) -> None:
    live = serve(SITE)
    response = rpc(f"{live.url}/mcp", "tools/list", Host="evil.example")
    assert 400 <= response.status_code < 500
    assert rpc(f"{live.url}/mcp", "tools/list", Host=f"localhost:{live.port}").status_code == 200


def test_a_reload_changes_the_tools_of_the_next_request(serve, tool_guests, tmp_path) -> None:
    from pyjinn.config import loads
    from pyjinn.runtime import Runtime

    live = serve(SITE)
    assert len(rpc(f"{live.url}/mcp", "tools/list").json()["result"]["tools"]) == 4
    smaller = SITE.replace("{port}", str(live.port))
    smaller = smaller[: smaller.index("    gojinn /simple")] + "}\n"
    runtime = Runtime(loads("{\n admin off\n}\n" + smaller, base_dir=tmp_path, environ={}))
    live.app.replace(runtime)
    tools = rpc(f"{live.url}/mcp", "tools/list").json()["result"]["tools"]
    assert [tool["name"] for tool in tools] == ["echo"]
