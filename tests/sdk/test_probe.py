"""The SDKs inside pyjinn (C, Zig, Rust, Go, Python, AssemblyScript), alike: the request they
decode, the responses they write, their log calls, and their key-value calls with the host's
error codes and messages.

One probe program per SDK (probe.c, probe.zig, probe.rs, probe.go, probe.py, probe.ts), built
once and cached by content, serves every test; its path picks what it does. The SDKs spell
error codes their own way (C, Python and AssemblyScript ``NOT_FOUND``, Zig, Rust and Go
``NotFound``); ``Sdk.status`` turns the ABI's name into that spelling.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pyjinn.engine.modules import ModuleLoader
from tests.sdk.support import (
    KV_CADDYFILE,
    StoreClient,
    build_assemblyscript,
    build_c,
    build_go,
    build_rust,
    build_zig,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sdk:
    language: str
    wasm: Path  # the probe's module (for Python, its source)
    # What the probe answers when the SDK refuses a non-UTF-8 header value; None where the
    # SDK's types cannot hold one (a Rust String is UTF-8).
    bad_header: str | None
    loader: ModuleLoader | None = None  # a loader to share (Python's interpreter loads once)

    @property
    def module_name(self) -> str:
        return f"kv{self.wasm.suffix}"

    @property
    def caddyfile(self) -> str:
        return KV_CADDYFILE.replace("kv.wasm", self.module_name)

    def status(self, code: str) -> str:
        """The SDK's spelling of the ABI error code ``code`` (``OK`` for success)."""
        if self.language not in ("zig", "rust", "go") or code == "OK":
            return code
        return "".join(part.capitalize() for part in code.split("_"))


@pytest.fixture(scope="module", params=["c", "zig", "rust", "go", "python", "assemblyscript"])
def sdk(request: pytest.FixtureRequest) -> Sdk:
    if request.param == "c":
        return Sdk("c", build_c((HERE / "probe.c").read_text()), "INVALID")
    if request.param == "rust":
        return Sdk("rust", build_rust((HERE / "probe.rs").read_text()), None)
    if request.param == "go":
        return Sdk("go", build_go((HERE / "probe.go").read_text()), "InvalidHeader")
    if request.param == "assemblyscript":
        wasm = build_assemblyscript((HERE / "probe.ts").read_text())
        return Sdk("assemblyscript", wasm, "INVALID")
    if request.param == "python":
        loader = request.getfixturevalue("python_loader")
        return Sdk("python", HERE / "probe.py", "INVALID", loader)
    return Sdk("zig", build_zig((HERE / "probe.zig").read_text()), "InvalidHeader")


@pytest.fixture
def probe(make_client, project, sdk: Sdk) -> httpx.AsyncClient:
    project(sdk.module_name, sdk.wasm)
    return make_client(sdk.caddyfile, loader=sdk.loader)


# ---- the request ---------------------------------------------------------------------------


async def test_request_fields_arrive_decoded(probe: httpx.AsyncClient) -> None:
    response = await probe.post(
        "/request?q=%22first%22%0Aline&q=second&empty=&nul=a%00b&ctl=%01",
        headers={
            "X-Probe": 'say "hi" \\ caf\xe9'.encode("latin-1"),
            "traceparent": f"00-{'ab' * 16}-{'0' * 15}1-01",
        },
        content="hé",
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/request"
    assert seen["uri"] == "/request?q=%22first%22%0Aline&q=second&empty=&nul=a%00b&ctl=%01"
    assert seen["remote_addr"] == "203.0.113.7:4711"
    assert seen["trace_id"] == "ab" * 16
    assert seen["tenant"] == "default"
    assert seen["body_length"] == len("hé".encode())
    assert seen["probe_header"] == 'say "hi" \\ caf\xe9'  # any case finds it
    assert seen["absent_header"] is None
    assert seen["q"] == '"first"\nline'  # the first of two values
    assert seen["absent_query"] is None  # query names are compared exactly
    assert seen["query"] == [
        ["q", '"first"\nline'],
        ["q", "second"],
        ["empty", ""],
        ["nul", "a\x00b"],
        ["ctl", "\x01"],
    ]
    assert ["X-Probe", 'say "hi" \\ caf\xe9'] in seen["headers"]


async def test_request_with_a_repeated_header_lists_every_value(
    probe: httpx.AsyncClient, sdk: Sdk
) -> None:
    response = await probe.get("/request", headers=[("X-Probe", "one"), ("X-Probe", "two")])
    seen = response.json()
    assert seen["probe_header"] == "one"
    assert [pair for pair in seen["headers"] if pair[0] == "X-Probe"] == [
        ["X-Probe", "one"],
        ["X-Probe", "two"],
    ]
    if sdk.language != "c":  # the other SDKs also give every value of one header
        assert seen["probe_headers"] == ["one", "two"]
    assert seen["query"] == []
    assert seen["body_length"] == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"plain text", "caf\xe9 \U0001f600".encode(), b"\xff\x00\xfe binary", bytes(range(256))],
    ids=["empty", "text", "utf8", "binary", "all-bytes"],
)
async def test_body_round_trips_byte_for_byte(probe: httpx.AsyncClient, body: bytes) -> None:
    # Bodies that are not UTF-8 travel base64 both ways; the SDK decodes and re-encodes them.
    response = await probe.post(
        "/body", content=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == 200, response.text
    assert response.content == body
    assert response.headers["content-type"] == "application/octet-stream"


async def test_large_binary_body_round_trips(probe: httpx.AsyncClient) -> None:
    body = os.urandom(3 * 1024 * 1024 + 1)
    response = await probe.post("/body", content=body)
    assert response.content == body


# ---- the response --------------------------------------------------------------------------


async def test_response_escapes_text_and_groups_headers(probe: httpx.AsyncClient) -> None:
    response = await probe.get("/respond")
    assert response.status_code == 201
    assert response.text == 'line\n\t"quoted" \\ \x01 caf\xe9 \U0001f600'
    assert response.headers.get_list("x-multi") == ["one", "two"]
    assert response.headers["x-quote"] == 'say "hi" \\ caf\xe9'
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


async def test_header_value_that_is_not_utf8_is_refused_not_mangled(
    probe: httpx.AsyncClient, sdk: Sdk
) -> None:
    if sdk.bad_header is None:
        pytest.skip(f"the {sdk.language} SDK's header values are UTF-8 by their type")
    response = await probe.get("/bad-header")
    assert response.status_code == 200
    assert response.text == sdk.bad_header
    assert "x-bad" not in response.headers


# ---- logging -------------------------------------------------------------------------------


async def test_log_levels_reach_the_host_log_and_a_bad_level_is_reported(
    probe: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pyjinn.guest"):
        response = await probe.get("/log")
    records = [
        (record.levelno, record.getMessage())
        for record in caplog.records
        if record.name == "pyjinn.guest" and record.getMessage().startswith("probe")
    ]
    assert records == [
        (logging.DEBUG, "probe: debug"),
        (logging.INFO, "probe: info"),
        (logging.WARNING, "probe: warn"),
        (logging.ERROR, "probe: error"),
    ]
    # log returns nothing; a refused call leaves its message for pyjinn_last_error.
    assert response.text == "log level 7 is not 0, 1, 2 or 3"


# ---- key-value: what the host refuses before any store is involved -------------------------


async def kv(client: httpx.AsyncClient, op: str, key: str, body: bytes = b"") -> tuple[str, bytes]:
    response = await client.post("/kv", params={"op": op, "key": key}, content=body)
    assert response.status_code == 200, response.text
    return response.headers["x-status"], response.content


@pytest.mark.parametrize("op", ["get", "set", "delete"])
async def test_key_outside_the_granted_namespace_is_denied(
    probe: httpx.AsyncClient, sdk: Sdk, op: str
) -> None:
    status, message = await kv(probe, op, "notes_x/secret")
    assert status == sdk.status("DENIED")
    grant = "kv_read" if op == "get" else "kv_write"
    assert message.decode() == f"kv_{op}: {grant} does not cover key 'notes_x/secret'"


@pytest.mark.parametrize("key", ["notes/a b", "notes/", "notes//x", "notes/../x"])
async def test_malformed_key_is_invalid(probe: httpx.AsyncClient, sdk: Sdk, key: str) -> None:
    status, message = await kv(probe, "get", key)
    assert status == sdk.status("INVALID")
    assert message.startswith(b"invalid key")


async def test_value_over_the_limit_is_refused(probe: httpx.AsyncClient, sdk: Sdk) -> None:
    status, message = await kv(probe, "set", "notes/big", b"x" * (1024 * 1024 + 1))
    assert status == sdk.status("LIMIT")
    assert message == b"value of 1048577 bytes exceeds 1048576 bytes"


async def test_without_a_store_calls_are_unavailable(probe: httpx.AsyncClient, sdk: Sdk) -> None:
    # make_client configures no NATS server, so the kv capability has no store behind it.
    for op in ("get", "set", "delete", "list"):
        status, message = await kv(probe, op, "notes/a" if op != "list" else "notes/")
        unavailable = sdk.status("UNAVAILABLE")
        assert (op, status, message) == (op, unavailable, b"no key-value store is configured")


# ---- key-value against a real store --------------------------------------------------------


@pytest.fixture
def kv_probe(store_client: StoreClient, project, sdk: Sdk) -> httpx.AsyncClient:
    project(sdk.module_name, sdk.wasm)
    return store_client(sdk.caddyfile, loader=sdk.loader)


async def test_set_get_delete_round_trip(kv_probe: httpx.AsyncClient, sdk: Sdk) -> None:
    for value in (b"hello", b"", "caf\xe9".encode(), b"\xff\x00binary", os.urandom(65536)):
        assert await kv(kv_probe, "set", "notes/a", value) == ("OK", b"")
        assert await kv(kv_probe, "get", "notes/a") == ("OK", value)
    assert await kv(kv_probe, "delete", "notes/a") == ("OK", b"")
    assert await kv(kv_probe, "get", "notes/a") == (sdk.status("NOT_FOUND"), b"no key 'notes/a'")
    assert await kv(kv_probe, "delete", "notes/a") == ("OK", b"")  # missing is not an error


async def test_list_returns_the_keys_under_a_prefix(kv_probe: httpx.AsyncClient) -> None:
    for key in ("notes/b", "notes/a", "notes/sub/c"):
        assert (await kv(kv_probe, "set", key, b"v"))[0] == "OK"
    status, keys = await kv(kv_probe, "list", "notes/")
    assert status == "OK"
    assert sorted(json.loads(keys)) == ["notes/a", "notes/b", "notes/sub/c"]
    status, keys = await kv(kv_probe, "list", "notes/zzz")
    assert (status, json.loads(keys)) == ("OK", [])
