"""rate_limit in the ASGI app: 429 with Retry-After and the IETF fields, decided before the body
is read and before the function runs, per tenant, counted in the metrics; only HTTP and MCP
invocations are limited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pyjinn.invocation import Envelope, Invocation
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.server.app import PyjinnApp
from tests.helpers import HELLO, wat_writing

pytestmark = pytest.mark.anyio

ACME_KEY = "acme-key-0123456789abcdef"
GLOBEX_KEY = "globex-key-0123456789abcdef"
SITE = f"""
:8080 {{
    pyjinn /limited hello.wat {{
        name limited
        rate_limit 0.001 3
        api_key {ACME_KEY} acme
        api_key {GLOBEX_KEY} globex
    }}
    pyjinn /free hello.wat {{
        name free
    }}
}}
"""


@pytest.fixture
def client(make_client, project) -> httpx.AsyncClient:
    project("hello.wat", wat_writing(HELLO))
    METRICS.reset()
    return make_client(SITE)


def acme(key: str = ACME_KEY) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_requests_beyond_the_burst_get_429_with_retry_after_and_the_ratelimit_fields(
    client: httpx.AsyncClient,
) -> None:
    answers = [await client.get("/limited", headers=acme()) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    policy = '"rate_limit";q=1;w=1000;pyjinn-burst=3'
    for answer, remaining in zip(answers[:3], (2, 1, 0), strict=True):
        assert answer.text == "hello"
        assert answer.headers["ratelimit-policy"] == policy
        assert answer.headers["ratelimit"] == f'"rate_limit";r={remaining};t=1000'
        assert "retry-after" not in answer.headers
    refused = answers[3]
    assert refused.headers["retry-after"] == "1000"
    assert refused.headers["ratelimit"] == '"rate_limit";r=0;t=1000'
    assert refused.headers["ratelimit-policy"] == policy
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "too many requests; retry later"


async def test_another_tenant_of_the_same_function_has_its_own_bucket(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(4):
        await client.get("/limited", headers=acme())
    assert (await client.get("/limited", headers=acme())).status_code == 429
    globex = [await client.get("/limited", headers=acme(GLOBEX_KEY)) for _ in range(3)]
    assert [answer.status_code for answer in globex] == [200, 200, 200]


async def test_functions_without_rate_limit_are_not_limited_and_get_no_ratelimit_fields(
    client: httpx.AsyncClient,
) -> None:
    answers = [await client.get("/free") for _ in range(10)]
    assert {answer.status_code for answer in answers} == {200}
    assert not any("ratelimit" in answer.headers for answer in answers)


async def test_a_request_without_a_valid_key_is_refused_401_without_taking_a_token(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        assert (await client.get("/limited")).status_code == 401
    statuses = [(await client.get("/limited", headers=acme())).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


async def test_limited_requests_are_counted_by_function_and_tenant(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(5):
        await client.get("/limited", headers=acme())
    counts = METRICS.function("limited").invocations
    assert counts[("ok", "acme")] == 3
    assert counts[("rate_limited", "acme")] == 2
    assert ("rate_limited", "globex") not in counts


async def test_the_refusal_is_answered_before_the_body_is_read(make_runtime, project) -> None:
    project("hello.wat", wat_writing(HELLO))
    app = PyjinnApp(make_runtime(SITE))
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/limited",
        "raw_path": b"/limited",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {ACME_KEY}".encode()),
            (b"content-length", b"1024"),
        ],
        "client": ("203.0.113.7", 4711),
    }
    for _ in range(3):
        await app(scope, receive, send)
    assert reads == 3
    sent.clear()
    await app(scope, receive, send)
    assert reads == 3  # the fourth request's body was never read
    assert sent[0]["status"] == 429


async def test_a_job_runs_even_when_the_tenant_has_no_tokens_left(make_runtime, project) -> None:
    project("hello.wat", wat_writing(HELLO))
    runtime = make_runtime(SITE)
    function = runtime.functions["limited"]
    for _ in range(3):
        invocation = Invocation(function, trigger="http", method="GET", target="/limited")
        invocation.admit("acme")
    refused = Invocation(function, trigger="mcp", method="MCP", target="/mcp#tool")
    outcome = await refused.run(runtime, Envelope("MCP", "/mcp", "/mcp"), "acme")
    assert outcome.error is not None and outcome.error.status == 429
    job = Invocation(function, trigger="job", method="GET", target="/limited")
    outcome = await job.run(runtime, Envelope("GET", "/limited", "/limited"), "acme")
    assert outcome.error is None and outcome.response is not None
    assert outcome.response.body == b"hello"
    assert not any(name.startswith(b"ratelimit") for name, _ in outcome.headers)
