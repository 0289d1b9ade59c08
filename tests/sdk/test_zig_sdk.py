"""The Zig SDK (sdk/zig/pyjinn.zig) inside pyjinn: the request it decodes, the responses it
writes, its log calls, and its key-value calls with the host's error codes and messages.

One probe program, compiled once (and cached by content), serves every test; its path picks
what it does. The checks mirror tests/sdk/test_c_sdk.py, so both SDKs behave alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from pyjinn.server.app import PyjinnApp

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

StoreClient = Callable[[str], httpx.AsyncClient]

SDK = Path(__file__).resolve().parents[2] / "sdk" / "zig" / "pyjinn.zig"
_CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "sdk"

PROBE = r"""
const std = @import("std");
const pyjinn = @import("pyjinn");

pub fn main(init: std.process.Init) !void {
    const io = init.io;
    const arena = init.arena.allocator();
    const request = pyjinn.readRequest(io, arena) catch |err| {
        return pyjinn.respond(io, 200, &.{}, @errorName(err));
    };
    const path = request.path;
    if (std.mem.eql(u8, path, "/request")) return describe(io, arena, request);
    if (std.mem.eql(u8, path, "/body")) {
        const kind = request.header("Content-Type") orelse "text/plain";
        const header: pyjinn.Header = .{ .name = "Content-Type", .value = kind };
        return pyjinn.respond(io, 200, &.{header}, request.body);
    }
    if (std.mem.eql(u8, path, "/respond")) {
        return pyjinn.respond(io, 201, &.{
            .{ .name = "X-Multi", .value = "one" },
            .{ .name = "Content-Type", .value = "text/plain; charset=utf-8" },
            .{ .name = "x-multi", .value = "two" },
            .{ .name = "X-Quote", .value = "say \"hi\" \\ caf\xc3\xa9" },
        }, "line\n\t\"quoted\" \\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80");
    }
    if (std.mem.eql(u8, path, "/bad-header")) {
        pyjinn.respond(io, 200, &.{.{ .name = "X-Bad", .value = "\xff" }}, "") catch |err| {
            return pyjinn.respond(io, 200, &.{}, @errorName(err));
        };
        return;
    }
    if (std.mem.eql(u8, path, "/log")) {
        pyjinn.log(.debug, "probe: debug");
        pyjinn.log(.info, "probe: info");
        pyjinn.log(.warn, "probe: warn");
        pyjinn.log(.err, "probe: error");
        pyjinn.abi.log(7, pyjinn.abi.address("probe: refused"), 14);
        return pyjinn.respond(io, 200, &.{}, try pyjinn.lastError(arena));
    }
    if (std.mem.eql(u8, path, "/kv")) return keyValue(io, arena, request);
    return pyjinn.respond(io, 404, &.{}, "no such probe");
}

fn describe(io: std.Io, arena: std.mem.Allocator, request: pyjinn.Request) !void {
    var out: std.Io.Writer.Allocating = .init(arena);
    var json: std.json.Stringify = .{ .writer = &out.writer };
    try json.beginObject();
    try json.objectField("body_length");
    try json.write(request.body.len);
    inline for (.{ "method", "uri", "path", "remote_addr", "trace_id", "tenant" }) |name| {
        try json.objectField(name);
        try json.write(@field(request, name));
    }
    try json.objectField("probe_header");
    try json.write(request.header("x-PROBE"));
    try json.objectField("absent_header");
    try json.write(request.header("X-Absent"));
    try json.objectField("q");
    try json.write(request.queryParam("q"));
    try json.objectField("absent_query");
    try json.write(request.queryParam("Q"));
    try json.objectField("probe_headers");
    try json.write(request.headerValues("x-probe"));
    inline for (.{ "headers", "query" }) |name| {
        try json.objectField(name);
        try json.beginArray();
        const values = @field(request, name).map;
        for (values.keys(), values.values()) |key, items| {
            for (items) |item| try json.write(.{ key, item });
        }
        try json.endArray();
    }
    try json.endObject();
    const kind: pyjinn.Header = .{ .name = "Content-Type", .value = "application/json" };
    return pyjinn.respond(io, 200, &.{kind}, out.written());
}

fn keyValue(io: std.Io, arena: std.mem.Allocator, request: pyjinn.Request) !void {
    const op = request.queryParam("op") orelse return error.NoOp;
    const key = request.queryParam("key") orelse return error.NoKey;
    var body: []const u8 = "";
    const result: pyjinn.KvError!void = if (std.mem.eql(u8, op, "get"))
        if (pyjinn.kvGet(arena, key)) |value| {
            body = value;
        } else |err| err
    else if (std.mem.eql(u8, op, "set"))
        pyjinn.kvSet(key, request.body)
    else if (std.mem.eql(u8, op, "delete"))
        pyjinn.kvDelete(key)
    else if (std.mem.eql(u8, op, "list"))
        if (pyjinn.kvList(arena, key)) |keys| {
            body = try std.json.Stringify.valueAlloc(arena, keys, .{});
        } else |err| err
    else
        return error.UnknownOp;
    var status: []const u8 = "OK";
    result catch |err| {
        status = @errorName(err);
        body = try pyjinn.lastError(arena);
    };
    return pyjinn.respond(io, 200, &.{
        .{ .name = "X-Status", .value = status },
        .{ .name = "Content-Type", .value = "application/octet-stream" },
    }, body);
}
"""

KV_CADDYFILE = """
:8080 {
    pyjinn kv.wasm {
        permissions {
            kv_read notes
            kv_write notes
        }
    }
}
"""


def build_zig(source: str, directory: Path = _CACHE) -> Path:
    """Compile ``source`` as the root module with the SDK as module ``pyjinn`` (cached)."""
    digest = hashlib.sha256(source.encode() + SDK.read_bytes()).hexdigest()[:16]
    output = directory / f"zig-{digest}.wasm"
    if not output.exists():
        work = directory / f"zig-{digest}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "main.zig").write_text(source)
        partial = output.with_suffix(f".{os.getpid()}.partial.wasm")
        command = [sys.executable, "-m", "ziglang", "build-exe", "-target", "wasm32-wasi"]
        command += ["-O", "ReleaseSafe", f"-femit-bin={partial}"]
        command += ["--dep", "pyjinn", "-Mroot=main.zig", f"-Mpyjinn={SDK}"]
        compiled = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
        assert compiled.returncode == 0, compiled.stderr
        os.replace(partial, output)
    return output


@pytest.fixture(scope="module")
def probe_wasm() -> Path:
    return build_zig(PROBE)


@pytest.fixture
def probe(make_client, project, probe_wasm: Path) -> httpx.AsyncClient:
    project("kv.wasm", probe_wasm)
    return make_client(KV_CADDYFILE)


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
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/request", headers=[("X-Probe", "one"), ("X-Probe", "two")])
    seen = response.json()
    assert seen["probe_header"] == "one"
    assert seen["probe_headers"] == ["one", "two"]
    assert seen["query"] == []
    assert seen["body_length"] == 0


@pytest.mark.parametrize(
    "body",
    [b"", b"plain text", "caf\xe9 \U0001f600".encode(), b"\xff\x00\xfe binary", bytes(range(256))],
    ids=["empty", "text", "utf8", "binary", "all-bytes"],
)
async def test_body_round_trips_byte_for_byte(probe: httpx.AsyncClient, body: bytes) -> None:
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
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/bad-header")
    assert response.status_code == 200
    assert response.text == "InvalidHeader"
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
    assert response.text == "log level 7 is not 0, 1, 2 or 3"


# ---- key-value: what the host refuses before any store is involved -------------------------


async def kv(client: httpx.AsyncClient, op: str, key: str, body: bytes = b"") -> tuple[str, bytes]:
    response = await client.post("/kv", params={"op": op, "key": key}, content=body)
    assert response.status_code == 200, response.text
    return response.headers["x-status"], response.content


@pytest.mark.parametrize("op", ["get", "set", "delete"])
async def test_key_outside_the_granted_namespace_is_denied(
    probe: httpx.AsyncClient, op: str
) -> None:
    status, message = await kv(probe, op, "notes_x/secret")
    assert status == "Denied"
    grant = "kv_read" if op == "get" else "kv_write"
    assert message.decode() == f"kv_{op}: {grant} does not cover key 'notes_x/secret'"


@pytest.mark.parametrize("key", ["notes/a b", "notes/", "notes//x", "notes/../x"])
async def test_malformed_key_is_invalid(probe: httpx.AsyncClient, key: str) -> None:
    status, message = await kv(probe, "get", key)
    assert status == "Invalid"
    assert message.startswith(b"invalid key")


async def test_value_over_the_limit_is_refused(probe: httpx.AsyncClient) -> None:
    status, message = await kv(probe, "set", "notes/big", b"x" * (1024 * 1024 + 1))
    assert status == "Limit"
    assert message == b"value of 1048577 bytes exceeds 1048576 bytes"


async def test_without_a_store_calls_are_unavailable(probe: httpx.AsyncClient) -> None:
    # make_client configures no NATS server, so the kv capability has no store behind it.
    for op in ("get", "set", "delete", "list"):
        status, message = await kv(probe, op, "notes/a" if op != "list" else "notes/")
        assert (op, status, message) == (op, "Unavailable", b"no key-value store is configured")


# ---- key-value against a real store --------------------------------------------------------


def tenant_caddyfile(caddyfile: str) -> str:
    """``caddyfile`` with the function acting for a new tenant: the session's store is shared."""
    tenant = f"t{uuid.uuid4().hex[:16]}"
    return caddyfile.replace("permissions {", f"tenant {tenant}\n        permissions {{", 1)


@pytest.fixture
async def store_client(make_runtime, kv_services) -> AsyncIterator[StoreClient]:
    """``store_client(caddyfile)``: a client for a runtime backed by the session's nats-server."""
    clients: list[httpx.AsyncClient] = []

    def make(caddyfile: str) -> httpx.AsyncClient:
        runtime = make_runtime(tenant_caddyfile(caddyfile), services=kv_services)
        transport = httpx.ASGITransport(app=PyjinnApp(runtime))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def kv_probe(store_client: StoreClient, project, probe_wasm: Path) -> httpx.AsyncClient:
    project("kv.wasm", probe_wasm)
    return store_client(KV_CADDYFILE)


async def test_set_get_delete_round_trip(kv_probe: httpx.AsyncClient) -> None:
    for value in (b"hello", b"", "caf\xe9".encode(), b"\xff\x00binary", os.urandom(65536)):
        assert await kv(kv_probe, "set", "notes/a", value) == ("OK", b"")
        assert await kv(kv_probe, "get", "notes/a") == ("OK", value)
    assert await kv(kv_probe, "delete", "notes/a") == ("OK", b"")
    assert await kv(kv_probe, "get", "notes/a") == ("NotFound", b"no key 'notes/a'")
    assert await kv(kv_probe, "delete", "notes/a") == ("OK", b"")


async def test_list_returns_the_keys_under_a_prefix(kv_probe: httpx.AsyncClient) -> None:
    for key in ("notes/b", "notes/a", "notes/sub/c"):
        assert (await kv(kv_probe, "set", key, b"v"))[0] == "OK"
    status, keys = await kv(kv_probe, "list", "notes/")
    assert status == "OK"
    assert sorted(json.loads(keys)) == ["notes/a", "notes/b", "notes/sub/c"]
    status, keys = await kv(kv_probe, "list", "notes/zzz")
    assert (status, json.loads(keys)) == ("OK", [])
