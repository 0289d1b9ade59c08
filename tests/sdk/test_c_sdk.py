"""The C SDK (sdk/c) inside pyjinn: the request it decodes, the responses it writes, its log
calls, and its key-value calls with the host's error codes and messages.

One probe program, compiled once per session, serves every test; its path picks what it does.
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

SDK = Path(__file__).resolve().parents[2] / "sdk" / "c"
_CACHE = Path(__file__).resolve().parents[2] / ".pytest_cache" / "sdk"

PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

static void member(pyjinn_buffer *out, const char *name, const char *value, size_t length) {
    pyjinn_buffer_append_text(out, ",");
    pyjinn_buffer_append_json(out, name, strlen(name));
    pyjinn_buffer_append_text(out, ":");
    if (value) {
        pyjinn_buffer_append_json(out, value, length);
    } else {
        pyjinn_buffer_append_text(out, "null");
    }
}

static void text_member(pyjinn_buffer *out, const char *name, const char *value) {
    member(out, name, value, value ? strlen(value) : 0);
}

static void fields(pyjinn_buffer *out, const char *name, const pyjinn_field *items, size_t count) {
    pyjinn_buffer_append_text(out, ",");
    pyjinn_buffer_append_json(out, name, strlen(name));
    pyjinn_buffer_append_text(out, ":[");
    for (size_t i = 0; i < count; i++) {
        if (i) pyjinn_buffer_append_text(out, ",");
        pyjinn_buffer_append_text(out, "[");
        pyjinn_buffer_append_json(out, items[i].name, strlen(items[i].name));
        pyjinn_buffer_append_text(out, ",");
        pyjinn_buffer_append_json(out, items[i].value, items[i].value_length);
        pyjinn_buffer_append_text(out, "]");
    }
    pyjinn_buffer_append_text(out, "]");
}

static int answer_json(pyjinn_buffer *out) {
    if (out->status != PYJINN_OK) return 2;
    return pyjinn_respond_text(200, "application/json", out->data) == PYJINN_OK ? 0 : 3;
}

static int describe(const pyjinn_request *request) {
    char number[32];
    pyjinn_buffer out = {0};
    snprintf(number, sizeof number, "%zu", request->body_length);
    pyjinn_buffer_append_text(&out, "{\"body_length\":");
    pyjinn_buffer_append_text(&out, number);
    text_member(&out, "method", request->method);
    text_member(&out, "uri", request->uri);
    text_member(&out, "path", request->path);
    text_member(&out, "remote_addr", request->remote_addr);
    text_member(&out, "trace_id", request->trace_id);
    text_member(&out, "tenant", request->tenant);
    text_member(&out, "probe_header", pyjinn_header(request, "x-PROBE"));
    text_member(&out, "absent_header", pyjinn_header(request, "X-Absent"));
    text_member(&out, "q", pyjinn_query(request, "q"));
    text_member(&out, "absent_query", pyjinn_query(request, "Q"));
    fields(&out, "headers", request->headers, request->header_count);
    fields(&out, "query", request->query, request->query_count);
    pyjinn_buffer_append_text(&out, "}");
    return answer_json(&out);
}

static int respond_with_status(int status) {
    return pyjinn_respond_text(200, "text/plain", pyjinn_status_name(status)) ? 3 : 0;
}

static int log_levels(void) {
    pyjinn_log(PYJINN_DEBUG, "probe: debug");
    pyjinn_log(PYJINN_INFO, "probe: info");
    pyjinn_log(PYJINN_WARN, "probe: warn");
    pyjinn_log_bytes(PYJINN_ERROR, "probe: error, and not this", 12);
    pyjinn_log((pyjinn_level)7, "probe: a level the host refuses");
    char *message = pyjinn_last_error();
    if (!message) return 2;
    return pyjinn_respond_text(200, "text/plain", message) ? 3 : 0;
}

/* ?op=get|set|delete|list&key=K (the body is the value to set). Answers the status's name in
 * X-Status, and the value, the keys as JSON, or the host's error message in the body. */
static int key_value(const pyjinn_request *request) {
    const char *op = pyjinn_query(request, "op");
    const char *key = pyjinn_query(request, "key");
    char *value = NULL, **keys = NULL;
    size_t length = 0, count = 0;
    int status;
    pyjinn_buffer out = {0};
    if (!op || !key) return 4;
    if (strcmp(op, "get") == 0) {
        status = pyjinn_kv_get(key, &value, &length);
        if (status == PYJINN_OK && value[length] != '\0') return 5;
        pyjinn_buffer_append(&out, value, length);
    } else if (strcmp(op, "set") == 0) {
        status = pyjinn_kv_set(key, request->body, request->body_length);
    } else if (strcmp(op, "delete") == 0) {
        status = pyjinn_kv_delete(key);
    } else if (strcmp(op, "list") == 0) {
        status = pyjinn_kv_list(key, &keys, &count);
        if (status == PYJINN_OK && keys[count] != NULL) return 5;
        pyjinn_buffer_append_text(&out, "[");
        for (size_t i = 0; i < count; i++) {
            if (i) pyjinn_buffer_append_text(&out, ",");
            pyjinn_buffer_append_json(&out, keys[i], strlen(keys[i]));
        }
        pyjinn_buffer_append_text(&out, "]");
    } else {
        return 4;
    }
    if (status != PYJINN_OK) {
        char *message = pyjinn_last_error();
        if (!message) return 2;
        out.length = 0;
        pyjinn_buffer_append_text(&out, message);
    }
    if (out.status != PYJINN_OK) return 2;
    pyjinn_response_header headers[] = {
        {"X-Status", pyjinn_status_name(status)},
        {"Content-Type", "application/octet-stream"},
    };
    return pyjinn_respond(200, headers, 2, out.data, out.length) ? 3 : 0;
}

int main(void) {
    pyjinn_request request;
    int status = pyjinn_read_request(&request);
    if (status != PYJINN_OK) return respond_with_status(status);
    const char *path = request.path;

    if (strcmp(path, "/request") == 0) return describe(&request);
    if (strcmp(path, "/body") == 0) {
        const char *type = pyjinn_header(&request, "Content-Type");
        pyjinn_response_header header = {"Content-Type", type ? type : "text/plain"};
        return pyjinn_respond(200, &header, 1, request.body, request.body_length) ? 3 : 0;
    }
    if (strcmp(path, "/respond") == 0) {
        static const char body[] = "line\n\t\"quoted\" \\ \x01 caf\xc3\xa9 \xf0\x9f\x98\x80";
        pyjinn_response_header headers[] = {
            {"X-Multi", "one"},
            {"Content-Type", "text/plain; charset=utf-8"},
            {"x-multi", "two"},
            {"X-Quote", "say \"hi\" \\ caf\xc3\xa9"},
        };
        return pyjinn_respond(201, headers, 4, body, sizeof body - 1) ? 3 : 0;
    }
    if (strcmp(path, "/bad-header") == 0) {
        pyjinn_response_header header = {"X-Bad", "\xff"};
        return respond_with_status(pyjinn_respond(200, &header, 1, "", 0));
    }
    if (strcmp(path, "/log") == 0) return log_levels();
    if (strcmp(path, "/kv") == 0) return key_value(&request);
    return pyjinn_respond_text(404, "text/plain", "no such probe") ? 3 : 0;
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


def build_c(source: str, directory: Path = _CACHE) -> Path:
    """Compile ``source`` with the C SDK (cached by content); warnings are errors."""
    sdk = [SDK / "pyjinn.h", SDK / "pyjinn.c"]
    digest = hashlib.sha256(source.encode() + b"".join(p.read_bytes() for p in sdk)).hexdigest()
    output = directory / f"c-{digest[:16]}.wasm"
    if not output.exists():
        directory.mkdir(parents=True, exist_ok=True)
        main = directory / f"c-{digest[:16]}.c"
        main.write_text(source)
        partial = output.with_suffix(f".{os.getpid()}.partial")
        command = [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-Os", "-s"]
        command += ["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(SDK)]
        command += ["-o", str(partial), str(main), str(SDK / "pyjinn.c")]
        compiled = subprocess.run(command, capture_output=True, text=True, check=False)
        assert compiled.returncode == 0, compiled.stderr
        os.replace(partial, output)
    return output


@pytest.fixture(scope="module")
def probe_wasm() -> Path:
    return build_c(PROBE)


@pytest.fixture
def probe(make_client, project, probe_wasm: Path) -> httpx.AsyncClient:
    project("kv.wasm", probe_wasm)
    return make_client(KV_CADDYFILE)


def response_status(response: httpx.Response) -> str:
    return response.headers["x-status"]


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
    assert [pair for pair in seen["headers"] if pair[0] == "X-Probe"] == [
        ["X-Probe", "one"],
        ["X-Probe", "two"],
    ]
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
    probe: httpx.AsyncClient,
) -> None:
    response = await probe.get("/bad-header")
    assert response.status_code == 200
    assert response.text == "INVALID"
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
    return response_status(response), response.content


@pytest.mark.parametrize("op", ["get", "set", "delete"])
async def test_key_outside_the_granted_namespace_is_denied(
    probe: httpx.AsyncClient, op: str
) -> None:
    status, message = await kv(probe, op, "notes_x/secret")
    assert status == "DENIED"
    grant = "kv_read" if op == "get" else "kv_write"
    assert message.decode() == f"kv_{op}: {grant} does not cover key 'notes_x/secret'"


@pytest.mark.parametrize("key", ["notes/a b", "notes/", "notes//x", "notes/../x"])
async def test_malformed_key_is_invalid(probe: httpx.AsyncClient, key: str) -> None:
    status, message = await kv(probe, "get", key)
    assert status == "INVALID"
    assert message.startswith(b"invalid key")


async def test_value_over_the_limit_is_refused(probe: httpx.AsyncClient) -> None:
    status, message = await kv(probe, "set", "notes/big", b"x" * (1024 * 1024 + 1))
    assert status == "LIMIT"
    assert message == b"value of 1048577 bytes exceeds 1048576 bytes"


async def test_without_a_store_calls_are_unavailable(probe: httpx.AsyncClient) -> None:
    # make_client configures no NATS server, so the kv capability has no store behind it.
    for op in ("get", "set", "delete", "list"):
        status, message = await kv(probe, op, "notes/a" if op != "list" else "notes/")
        assert (op, status, message) == (op, "UNAVAILABLE", b"no key-value store is configured")


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
    assert await kv(kv_probe, "get", "notes/a") == ("NOT_FOUND", b"no key 'notes/a'")
    assert await kv(kv_probe, "delete", "notes/a") == ("OK", b"")  # missing is not an error


async def test_list_returns_the_keys_under_a_prefix(kv_probe: httpx.AsyncClient) -> None:
    for key in ("notes/b", "notes/a", "notes/sub/c"):
        assert (await kv(kv_probe, "set", key, b"v"))[0] == "OK"
    status, keys = await kv(kv_probe, "list", "notes/")
    assert status == "OK"
    assert sorted(json.loads(keys)) == ["notes/a", "notes/b", "notes/sub/c"]
    status, keys = await kv(kv_probe, "list", "notes/zzz")
    assert (status, json.loads(keys)) == ("OK", [])


# ---- the notes example (examples/functions/notes), built against this SDK ------------------

NOTES = Path(__file__).resolve().parents[2] / "examples" / "functions" / "notes" / "main.c"
NOTES_CADDYFILE = KV_CADDYFILE.replace("kv.wasm", "notes.wasm")


@pytest.fixture
def notes_wasm(project) -> Path:
    return project("notes.wasm", build_c(NOTES.read_text()))


@pytest.fixture
def notes(make_client, notes_wasm: Path) -> httpx.AsyncClient:
    return make_client(NOTES_CADDYFILE)


@pytest.fixture
def stored_notes(store_client: StoreClient, notes_wasm: Path) -> httpx.AsyncClient:
    return store_client(NOTES_CADDYFILE)


async def test_notes_answers_host_errors_with_http_statuses(notes: httpx.AsyncClient) -> None:
    response = await notes.put("/notes/a b", content="text")
    assert (response.status_code, response.json()["error"]) == (
        400,
        "invalid key 'notes/a b': use A-Z a-z 0-9 _ - . / =, not starting or ending with . or /, "
        "without .. or //",
    )
    response = await notes.get("/notes")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "no key-value store is configured"},
    )


async def test_notes_refuses_other_methods_and_paths(notes: httpx.AsyncClient) -> None:
    assert (await notes.post("/notes/a")).status_code == 405
    assert (await notes.delete("/notes")).status_code == 405
    assert (await notes.get("/elsewhere")).status_code == 404


async def test_notes_stores_reads_lists_and_deletes(stored_notes: httpx.AsyncClient) -> None:
    notes = stored_notes  # the example, with a store behind it
    assert (await notes.put("/notes/shopping", content="milk\neggs")).status_code == 204
    assert (await notes.put("/notes/todo", content="write docs")).status_code == 204
    response = await notes.get("/notes/shopping")
    assert (response.status_code, response.text) == (200, "milk\neggs")
    assert sorted((await notes.get("/notes")).json()) == ["shopping", "todo"]
    assert (await notes.delete("/notes/shopping")).status_code == 204
    response = await notes.get("/notes/shopping")
    assert (response.status_code, response.json()) == (404, {"error": "no key 'notes/shopping'"})
    assert (await notes.get("/notes")).json() == ["todo"]
