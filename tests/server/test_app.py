"""The ASGI app in-process: the contract over HTTP, routing, and every error answered cleanly."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest

from pyjinn import runtime as runtime_module
from tests.helpers import HELLO, wat_trapping, wat_writing

pytestmark = pytest.mark.anyio


@pytest.fixture
def mirror_client(make_client, project, c_guest) -> httpx.AsyncClient:
    project("mirror.wasm", c_guest("mirror"))
    return make_client(
        """
        :8080 {
            handle_path /stripped/* {
                pyjinn mirror.wasm {
                    name stripped
                }
            }
            pyjinn /* mirror.wasm
        }
        """
    )


@pytest.fixture
def behave_client(make_client, project, c_guest) -> httpx.AsyncClient:
    project("behave.wasm", c_guest("behave"))
    project("hello.wat", wat_writing(HELLO))
    return make_client(
        """
        :8080 {
            handle /behave {
                pyjinn behave.wasm {
                    timeout 500ms
                    memory_limit 32MiB
                    stdout_limit 1MiB
                    pool_size 2
                    pool_wait 50ms
                    max_body 1KiB
                }
            }
            handle /hello {
                pyjinn hello.wat
            }
            respond /healthz "ok" 200
        }
        """
    )


async def envelope(client: httpx.AsyncClient, method: str, url: str, **options) -> dict:
    response = await client.request(method, url, **options)
    assert response.status_code == 200, response.text
    return json.loads(response.text)


async def test_the_guest_receives_the_request_as_the_contract_describes(mirror_client) -> None:
    seen = await envelope(
        mirror_client,
        "POST",
        "/envelope?a=1&a=2&empty=",
        content=b'{"hello": "world"}',
        headers=[("x-custom", "one"), ("X-Custom", "two"), ("content-type", "application/json")],
    )
    assert seen["method"] == "POST"
    assert seen["uri"] == "/envelope?a=1&a=2&empty="
    assert seen["path"] == "/envelope"
    assert seen["query"] == {"a": ["1", "2"], "empty": [""]}
    assert seen["headers"]["X-Custom"] == ["one", "two"]
    assert seen["headers"]["Content-Type"] == ["application/json"]
    assert seen["body"] == '{"hello": "world"}'
    assert "body_encoding" not in seen
    assert seen["remote_addr"] == "203.0.113.7:4711"
    assert len(seen["trace_id"]) == 32 and int(seen["trace_id"], 16) > 0


async def test_the_trace_id_comes_from_an_incoming_traceparent(mirror_client) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    seen = await envelope(
        mirror_client,
        "GET",
        "/envelope",
        headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert seen["trace_id"] == trace


async def test_each_request_without_traceparent_gets_its_own_trace_id(mirror_client) -> None:
    first = await envelope(mirror_client, "GET", "/envelope")
    second = await envelope(mirror_client, "GET", "/envelope")
    assert first["trace_id"] != second["trace_id"]


async def test_binary_bodies_travel_as_base64_both_ways(mirror_client) -> None:
    payload = bytes(range(256)) * 4
    response = await mirror_client.post("/echo", content=payload)
    assert response.status_code == 200
    assert response.content == payload


async def test_text_bodies_round_trip_unchanged(mirror_client) -> None:
    text = 'Grüße, "quotes" and \\ backslashes\n'
    response = await mirror_client.post("/echo", content=text.encode())
    assert response.status_code == 200
    assert response.text == text


async def test_handle_path_strips_its_prefix_before_the_guest_sees_it(mirror_client) -> None:
    seen = await envelope(mirror_client, "GET", "/stripped/envelope?x=1")
    assert seen["path"] == "/envelope"
    assert seen["uri"] == "/envelope?x=1"


async def test_the_guest_gets_the_cleaned_path_and_the_raw_request_target(mirror_client) -> None:
    # %2e%2e is decoded, then cleaned away; case and repeated slashes stay in the path the
    # guest sees (only matching ignores them), and uri is the target as the client sent it.
    seen = await envelope(mirror_client, "GET", "/Some//x/%2e%2e//envelope?q=1")
    assert seen["path"] == "/Some/envelope"
    assert seen["uri"] == "/Some//x/%2e%2e//envelope?q=1"


async def test_handle_path_hands_on_the_cleaned_path_below_its_prefix(mirror_client) -> None:
    seen = await envelope(mirror_client, "GET", "/STRIPPED/x/%2e%2e/envelope")
    assert seen["path"] == "/envelope"
    assert seen["uri"] == "/envelope"
    # Above the prefix once cleaned: not the stripped function's request at all.
    other = await mirror_client.get("/stripped/%2e%2e/%2e%2e/etc/envelope")
    assert other.json()["path"] == "/etc/envelope"


async def test_a_gojinn_style_function_runs_unchanged(make_client, project) -> None:
    # What Gojinn's Go SDK writes: headers as lists, a string body, and a trailing newline.
    output = (
        '{"status":201,"headers":{"Content-Type":["application/json"],"X-Multi":["a","b"]},'
        '"body":"{\\"message\\":\\"created\\"}"}\n'
    )
    project("gojinn.wat", wat_writing(output))
    client = make_client(":8080 {\n gojinn gojinn.wat {\n timeout 2s\n }\n}\n")
    response = await client.get("/anything")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get_list("x-multi") == ["a", "b"]
    assert response.json() == {"message": "created"}


async def test_header_values_may_be_single_strings(make_client, project) -> None:
    project("single.wat", wat_writing('{"status":200,"headers":{"X-One":"value"},"body":"ok"}'))
    response = await make_client(":8080 {\n pyjinn single.wat\n}\n").get("/")
    assert response.headers["x-one"] == "value"
    assert response.text == "ok"


async def test_respond_and_unknown_paths(behave_client) -> None:
    response = await behave_client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")
    missing = await behave_client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no route for this path"}


FAILURES = [
    # (query, expected status, client-visible error)
    ("sleep_ms=5000", 504, "function timed out"),
    ("exit=3", 502, "function failed"),
    ("alloc_mb=200", 502, "function exceeded its memory limit"),
    ("stdout_mb=50", 502, "function output too large"),
]


@pytest.mark.parametrize(("query", "status", "message"), FAILURES)
async def test_guest_failures_get_a_short_json_error_and_the_server_keeps_serving(
    behave_client, caplog, query: str, status: int, message: str
) -> None:
    caplog.set_level(logging.WARNING, logger="pyjinn.invocation")
    response = await behave_client.get(f"/behave?{query}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["error"] == message
    assert set(document) == {"error", "trace_id"}
    record = next(r for r in caplog.records if r.name == "pyjinn.invocation")
    assert record.blame == "guest"
    assert record.trace_id == document["trace_id"]
    assert (await behave_client.get("/behave")).text == "runs=1"


@pytest.mark.parametrize(
    ("name", "module", "expected"),
    [
        (
            "trap",
            wat_trapping("(unreachable)"),
            "function crashed: unreachable instruction executed",
        ),
        ("loop", wat_trapping("(loop $l (br $l))"), "function ran out of fuel"),
        ("junk", wat_writing("this is not json"), "function returned an invalid response"),
        ("empty", wat_writing(""), "function returned an invalid response"),
        ("status", wat_writing('{"status":"ok"}'), "function returned an invalid response"),
        (
            "inject",
            wat_writing('{"headers":{"X-A":"v\\r\\nSet-Cookie: evil=1"},"body":""}'),
            "function returned an invalid response",
        ),
    ],
)
async def test_bad_guests_get_502_and_the_server_keeps_serving(
    make_client, project, name: str, module: str, expected: str
) -> None:
    project(f"{name}.wat", module)
    project("hello.wat", wat_writing(HELLO))
    client = make_client(
        f":8080 {{\n handle /bad {{\n pyjinn {name}.wat {{\n fuel_limit 1000000\n }}\n }}\n"
        " handle /hello {\n pyjinn hello.wat\n }\n}\n"
    )
    response = await client.get("/bad")
    assert response.status_code == 502
    assert response.json()["error"] == expected
    assert "set-cookie" not in response.headers
    assert (await client.get("/hello")).text == "hello"


async def test_a_body_over_max_body_is_refused_with_413(behave_client) -> None:
    response = await behave_client.post("/behave", content=b"x" * 2048)
    assert response.status_code == 413
    assert response.json()["error"] == "request body exceeds 1024 bytes"
    assert (await behave_client.post("/behave", content=b"x" * 1024)).status_code == 200


async def test_a_streamed_body_over_max_body_is_refused_with_413(behave_client) -> None:
    async def chunks():
        for _ in range(4):
            yield b"y" * 512

    response = await behave_client.post("/behave", content=chunks())
    assert response.status_code == 413
    assert (await behave_client.get("/behave")).status_code == 200


async def test_when_every_slot_stays_busy_the_request_gets_503_with_retry_after(
    behave_client,
) -> None:
    slow = [asyncio.create_task(behave_client.get("/behave?sleep_ms=300")) for _ in range(2)]
    await asyncio.sleep(0.1)
    refused = await behave_client.get("/behave")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "function is busy, retry shortly"
    assert [r.status_code for r in await asyncio.gather(*slow)] == [200, 200]
    assert (await behave_client.get("/behave")).status_code == 200


async def test_an_internal_error_is_500_without_internals(
    behave_client, monkeypatch, caplog
) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(runtime_module, "invoke", broken)
    caplog.set_level(logging.ERROR, logger="pyjinn.invocation")
    response = await behave_client.get("/behave")
    assert response.status_code == 500
    assert response.json()["error"] == "internal error"
    assert "secret" not in response.text
    assert any("secret internal detail" in (r.exc_text or "") for r in caplog.records)
    monkeypatch.undo()
    assert (await behave_client.get("/behave")).status_code == 200


async def test_a_slow_function_does_not_stall_other_requests(behave_client) -> None:
    slow = asyncio.create_task(behave_client.get("/behave?sleep_ms=400"))
    await asyncio.sleep(0.05)
    fast = await behave_client.get("/hello")
    assert fast.text == "hello"
    assert not slow.done()
    assert (await slow).status_code == 200


async def test_200_concurrent_requests_all_succeed_within_pool_size(
    make_runtime, project, c_guest
) -> None:
    project("behave.wasm", c_guest("behave"))
    runtime = make_runtime(":8080 {\n pyjinn behave.wasm {\n pool_size 20\n pool_wait 30s\n }\n}\n")
    from pyjinn.server.app import PyjinnApp

    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        responses = await asyncio.gather(*(client.get("/?sleep_ms=50") for _ in range(200)))
    assert [r.status_code for r in responses] == [200] * 200
    slots = runtime.functions["behave"].slots
    assert slots.peak == 20
    assert slots.in_use == 0


async def test_the_app_mounts_inside_a_starlette_application(make_runtime, project) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from pyjinn.server.app import PyjinnApp

    project("hello.wat", wat_writing(HELLO))
    functions = PyjinnApp(make_runtime(":8080 {\n handle /hello {\n pyjinn hello.wat\n }\n}\n"))
    host = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("host app")),
            Mount("/fn", app=functions),
        ]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=host), base_url="http://t"
    ) as client:
        assert (await client.get("/")).text == "host app"
        assert (await client.get("/fn/hello")).text == "hello"
        assert (await client.get("/fn/other")).status_code == 404


def wat_writing_repeated(byte: int, count: int) -> str:
    """A WAT module that writes ``count`` copies of ``byte`` to stdout in one write."""
    pages = (64 + count) // 65536 + 1
    return f"""
    (module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") {pages})
      (func (export "_start")
        (memory.fill (i32.const 64) (i32.const {byte}) (i32.const {count}))
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const {count}))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """


async def test_deeply_nested_output_is_the_guests_fault_not_an_internal_error(
    make_client, project, caplog
) -> None:
    project("nested.wat", wat_writing_repeated(ord("["), 100_000))
    project("hello.wat", wat_writing(HELLO))
    client = make_client(
        ":8080 {\n handle /nested {\n pyjinn nested.wat\n }\n"
        " handle /hello {\n pyjinn hello.wat\n }\n}\n"
    )
    caplog.set_level(logging.INFO, logger="pyjinn")
    response = await client.get("/nested")
    assert response.status_code == 502
    assert response.json()["error"] == "function returned an invalid response"
    failures = [r for r in caplog.records if r.name == "pyjinn.invocation"]
    assert [(r.blame, r.kind, r.levelno) for r in failures] == [
        ("guest", "invalid_output", logging.WARNING)
    ]
    assert not any(r.levelno >= logging.ERROR or r.exc_info for r in caplog.records)
    assert (await client.get("/hello")).text == "hello"


async def test_hop_by_hop_and_date_headers_from_a_guest_never_reach_the_client(
    make_client, project
) -> None:
    answer = json.dumps(
        {
            "headers": {
                "Connection": "close",
                "Keep-Alive": "timeout=1",
                "Upgrade": "h2c",
                "Trailer": "X-Sum",
                "Transfer-Encoding": "chunked",
                "Date": "Mon, 01 Jan 2001 00:00:00 GMT",
                "Server": ["guest", "again"],
                "X-Kept": "yes",
            },
            "body": "fine",
        }
    )
    project("headers.wat", wat_writing(answer))
    client = make_client(":8080 {\n pyjinn headers.wat\n}\n")
    response = await client.get("/")
    assert response.status_code == 200
    assert response.text == "fine"
    names = [name.lower() for name, _ in response.headers.raw]
    for dropped in (b"connection", b"keep-alive", b"upgrade", b"trailer", b"transfer-encoding"):
        assert dropped not in names
    assert b"date" not in names  # the ASGI transport adds none; uvicorn adds its own
    assert response.headers.get_list("server") == ["guest"]
    assert response.headers["x-kept"] == "yes"


async def test_a_guest_answering_too_many_headers_gets_502(make_client, project) -> None:
    answer = json.dumps({"headers": {f"X-H{index}": "v" for index in range(101)}})
    project("many.wat", wat_writing(answer))
    client = make_client(":8080 {\n pyjinn many.wat\n}\n")
    response = await client.get("/")
    assert response.status_code == 502
    assert response.json()["error"] == "function returned an invalid response"


async def test_credential_headers_reach_only_functions_that_ask_for_them(
    make_client, project, c_guest
) -> None:
    project("mirror.wasm", c_guest("mirror"))
    client = make_client(
        """
        :8080 {
            handle /plain/* {
                pyjinn mirror.wasm {
                    name plain
                }
            }
            handle /own-auth/* {
                pyjinn mirror.wasm {
                    name own_auth
                    forward_credentials Authorization
                }
            }
        }
        """
    )
    credentials = {
        "Authorization": "Bearer a-token-for-the-function",
        "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
        "X-API-Key": "a-key-for-someone-else",
        "Cookie": "session=abc",
    }
    plain = (await envelope(client, "GET", "/plain/envelope", headers=credentials))["headers"]
    assert "Authorization" not in plain
    assert "Proxy-Authorization" not in plain
    assert "X-Api-Key" not in plain
    assert plain["Cookie"] == ["session=abc"]
    own = (await envelope(client, "GET", "/own-auth/envelope", headers=credentials))["headers"]
    assert own["Authorization"] == ["Bearer a-token-for-the-function"]
    assert "Proxy-Authorization" not in own
    assert "X-Api-Key" not in own
