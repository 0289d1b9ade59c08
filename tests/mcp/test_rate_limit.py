"""rate_limit on MCP tool calls: a call beyond the tenant's burst is a tool error, refused before
its arguments are checked or a sandbox starts, counted as rate_limited."""

from __future__ import annotations

import pytest

from pyjinn.observability.metrics import REGISTRY
from tests.mcp.test_http import rpc

pytestmark = pytest.mark.slow

SITE = """
127.0.0.1:{port} {
    gojinn /simple gojinn.wasm {
        name simple
        rate_limit 0.001 2
        ai_tool {
            name simple
            description "Answers what it was given"
        }
    }
}
"""


def test_a_tool_call_beyond_the_burst_is_a_tool_error(serve, tool_guests) -> None:
    REGISTRY.reset()
    live = serve(SITE)
    results = [
        rpc(f"{live.url}/mcp", "tools/call", {"name": "simple", "arguments": {"n": n}}).json()
        for n in range(3)
    ]
    assert [result["result"].get("isError", False) for result in results] == [False, False, True]
    assert results[0]["result"]["content"][0]["text"] == 'you said {"n":0}'
    assert results[2]["result"]["content"][0]["text"].startswith("too many requests; retry later")
    outcomes = {
        labels[1]: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_invocations" and labels[0] == "simple"
    }
    assert outcomes == {"ok": 2, "rate_limited": 1}
