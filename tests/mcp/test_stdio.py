"""``pyjinn mcp``: a site's tools over the stdio transport, driven by the official SDK's client
(which starts ``pyjinn mcp`` as a subprocess), and how it refuses what it cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.mcp.conftest import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KEY = "stdio-key-0123456789abcdef"
CADDYFILE = f"""
{{
    admin off
}}
:8080 {{
    pyjinn /echo envelope.wasm {{
        name echo
        api_key {KEY} acme
        ai_tool {{
            name echo
            description "Echo the arguments"
        }}
    }}
}}
"""


def parameters(directory: Path, key: str | None) -> StdioServerParameters:
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    environment.pop("PYJINN_API_KEY", None)
    if key is not None:
        environment["PYJINN_API_KEY"] = key
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "pyjinn", "mcp", str(directory / "Caddyfile")],
        env=environment,
        cwd=str(directory),
    )


def test_the_sdk_client_calls_a_tool_over_stdio(tool_guests, tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(CADDYFILE)

    async def session() -> tuple[list[str], dict]:
        async with Client(parameters(tmp_path, KEY), mode="legacy") as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            result = await client.call_tool("echo", {"said": "hello"})
            return names, result.structured_content

    names, structured = run(session())
    assert names == ["echo"]
    assert structured == {"method": "MCP", "tenant": "acme", "arguments": {"said": "hello"}}


def test_without_the_key_the_tools_are_not_served(tool_guests, tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(CADDYFILE)
    completed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "mcp", "Caddyfile"],
        cwd=tmp_path,
        env={
            **{k: v for k, v in os.environ.items() if k != "PYJINN_API_KEY"},
            "PYTHONPATH": str(ROOT),
        },
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "set PYJINN_API_KEY" in completed.stderr
    assert completed.stdout == ""  # nothing but the protocol may ever reach stdout


def test_a_caddyfile_without_tools_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hello.wat").write_text(
        '(module (memory (export "memory") 1) (func (export "_start")))'
    )
    (tmp_path / "Caddyfile").write_text("{\n admin off\n}\n:8080 {\n pyjinn hello.wat\n}\n")
    completed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "mcp", "Caddyfile"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "no function of this Caddyfile has an ai_tool block" in completed.stderr
