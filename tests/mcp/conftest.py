"""MCP test fixtures: tool guests, and pyjinn served on a real loopback socket (uvicorn in a
thread, in this process) so real MCP clients can connect over Streamable HTTP."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from pyjinn.config import loads
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from tests.helpers import wat_trapping
from tests.sdk.support import build_c
from tests.servers import free_ports

# A pyjinn tool: answers the envelope's method, tenant and body (the arguments) as JSON.
ENVELOPE_TOOL = r"""
#include <string.h>

#include "pyjinn.h"

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    pyjinn_buffer out = {0};
    pyjinn_buffer_append_text(&out, "{\"method\":");
    pyjinn_buffer_append_json(&out, request.method, strlen(request.method));
    pyjinn_buffer_append_text(&out, ",\"tenant\":");
    pyjinn_buffer_append_json(&out, request.tenant, strlen(request.tenant));
    pyjinn_buffer_append_text(&out, ",\"arguments\":");
    pyjinn_buffer_append(&out, request.body, request.body_length);
    pyjinn_buffer_append_text(&out, "}");
    pyjinn_response_header type = {"Content-Type", "application/json"};
    return pyjinn_respond(200, &type, 1, out.data, out.length) ? 1 : 0;
}
"""

# A Gojinn tool: reads the bare arguments on stdin and writes text (no envelope either way).
GOJINN_TOOL = r"""
#include <stdio.h>
#include <string.h>

int main(void) {
    static char input[65536];
    size_t length = fread(input, 1, sizeof input - 1, stdin);
    input[length] = 0;
    if (strcmp(input, "{}") == 0) {
        fputs("This is a simple text response for testing.", stdout);
    } else {
        printf("you said %s", input);
    }
    return 0;
}
"""

SCHEMA_2020_12 = (
    '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", '
    '"$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, '
    '"city": {"type": "string"}}}}, "properties": {"name": {"type": "string"}, '
    '"address": {"$ref": "#/$defs/address"}}, "additionalProperties": false}'
)


@pytest.fixture
def tool_guests(project: Callable[..., Path]) -> None:
    """envelope.wasm, gojinn.wasm and trap.wat in the test's project directory."""
    project("envelope.wasm", build_c(ENVELOPE_TOOL))
    project("gojinn.wasm", build_c(GOJINN_TOOL))
    project("trap.wat", wat_trapping("unreachable"))


class LiveApp:
    """A PyjinnApp served by uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: PyjinnApp, port: int) -> None:
        self.app = app
        self.port = port
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], LiveApp]]:
    """``serve(caddyfile)``: the config served on a loopback port. The Caddyfile's sites may
    use ``{port}``, which becomes the port."""
    servers: list[LiveApp] = []
    runtimes: list[Runtime] = []

    def start(caddyfile: str) -> LiveApp:
        port = free_ports(1)[0]
        text = "{\n\tadmin off\n}\n" + textwrap.dedent(caddyfile).replace("{port}", str(port))
        runtime = Runtime(loads(text, base_dir=tmp_path, environ={}))
        runtimes.append(runtime)
        assert runtime.load_all() == []
        live = LiveApp(PyjinnApp(runtime), port)
        live.start()
        servers.append(live)
        return live

    yield start
    for live in servers:
        live.stop()
    for runtime in runtimes:
        runtime.close()


def run(coroutine: object) -> object:
    """Run a client coroutine to completion (the server runs in its own thread's loop)."""
    return asyncio.run(coroutine)  # type: ignore[arg-type]
