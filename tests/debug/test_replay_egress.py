"""Outbound HTTP and locks in crash records: a failure after such a call replays exactly,
offline, with the server gone: the guest gets the recorded answer (status, headers and body;
the bytes Gojinn's host_http_get copied; the lock's token) from the record."""

from __future__ import annotations

import httpx
import pytest

from pyjinn.debug import replay as replaying
from pyjinn.server.app import PyjinnApp
from tests.capabilities.http_guest import FETCH
from tests.sdk.support import build_c
from tests.servers import ScriptedHttp

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def fetch_site(port: int) -> str:
    return f"""
    :8080 {{
        pyjinn fetch.wasm {{
            name fetch
            allow_host 127.0.0.1:{port}
            permissions {{
                http
            }}
        }}
    }}
    """


@pytest.mark.parametrize("path", ["/", "/gojinn"])
async def test_a_crash_after_an_outbound_call_replays_with_the_recorded_answer(
    make_runtime, project, records, replay, path: str
) -> None:
    project("fetch.wasm", build_c(FETCH))
    server = ScriptedHttp()
    try:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=PyjinnApp(make_runtime(fetch_site(server.port)))),
            base_url="http://testserver",
        )
        params = {"url": server.url("/echo"), "crash": "1"}
        response = await client.post(path, params=params, content=b"payload")
        await client.aclose()
        assert response.status_code == 502
    finally:
        server.stop()  # the replay has no server to ask
    [record] = records()
    calls = [call["call"] for call in record.document["host_calls"]]
    assert ("http_request" if path == "/" else "host_http_get") in calls
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED, verdict.to_json()


async def test_a_crash_while_holding_a_lock_replays_with_the_recorded_token(
    make_runtime, project, kv_services, records, replay
) -> None:
    project(
        "locker.wat",
        """
        (module
          (import "pyjinn" "lock_acquire" (func $lock_acquire (param i32 i32 i32 i32) (result i64)))
          (import "pyjinn" "result_read" (func $result_read (param i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 0) "jobs/x")
          (func (export "_start")
            (drop (call $lock_acquire (i32.const 0) (i32.const 6) (i32.const 30) (i32.const 0)))
            (drop (call $result_read (i32.const 100) (i32.const 64)))
            ;; trap when the token's first character is a digit or a letter: always
            (if (i32.ge_u (i32.load8_u (i32.const 100)) (i32.const 48)) (then unreachable))))
        """,
    )
    runtime = make_runtime(
        ":8080 {\n pyjinn locker.wat {\n permissions {\n lock jobs\n }\n }\n}\n",
        services=kv_services,
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=PyjinnApp(runtime)), base_url="http://testserver"
    )
    assert (await client.get("/")).status_code == 502
    await client.aclose()
    [record] = records()
    assert [call["call"] for call in record.document["host_calls"]] == [
        "lock_acquire",
        "result_read",
    ]
    verdict = replay(record)
    assert verdict.verdict == replaying.REPRODUCED, verdict.to_json()
