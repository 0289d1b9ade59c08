"""cors_origin in the ASGI app, by exact headers: allowed and refused origins, * and credentials,
preflights answered without the function, and who wins among the configuration, the function's
own headers and the header directive."""

from __future__ import annotations

import httpx
import pytest

from pyjinn.config.model import Cors
from pyjinn.observability.metrics import REGISTRY as METRICS
from tests.helpers import HELLO, wat_trapping, wat_writing

pytestmark = pytest.mark.anyio

APP = "https://app.example.com"
EVIL = "https://evil.example"
KEY = "acme-key-0123456789abcdef"
# A function that tries CORS of its own, the unsafe way: any origin, with credentials.
WIDENING = (
    '{"status":200,"headers":{"Access-Control-Allow-Origin":"*",'
    '"Access-Control-Allow-Credentials":"true","Vary":"Accept-Encoding",'
    '"Access-Control-Expose-Headers":"X-Total","X-Total":"3"},"body":"mine"}'
)
SITE = f"""
:8080 {{
    pyjinn /exact hello.wat {{
        name exact
        cors_origin {APP} http://localhost:5173
    }}
    pyjinn /credentials hello.wat {{
        name credentials
        cors_origin {APP}
        cors_credentials on
        api_key {KEY} acme
    }}
    pyjinn /any hello.wat {{
        name any
        cors_origin *
    }}
    pyjinn /trap trap.wat {{
        name trap
        cors_origin {APP}
    }}
    pyjinn /widening widening.wat {{
        name widening
        cors_origin {APP}
    }}
    pyjinn /plain widening.wat {{
        name plain
    }}
    pyjinn /limited hello.wat {{
        name limited
        cors_origin {APP}
        rate_limit 0.001 1
    }}
    handle /ruled {{
        header Access-Control-Allow-Origin {EVIL}
        header >Access-Control-Max-Age 60
        header X-Site ruled
        pyjinn hello.wat {{
            name ruled
            cors_origin {APP}
        }}
    }}
}}
"""


@pytest.fixture
def client(make_client, project) -> httpx.AsyncClient:
    project("hello.wat", wat_writing(HELLO))
    project("trap.wat", wat_trapping("unreachable"))
    project("widening.wat", wat_writing(WIDENING))
    METRICS.reset()
    return make_client(SITE)


def cors_fields(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-") or name == "vary"
    }


def preflight(origin: str, method: str = "PUT", headers: str | None = None) -> dict[str, str]:
    asked = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        asked["access-control-request-headers"] = headers
    return asked


async def test_an_allowed_origin_may_read_the_answer(client: httpx.AsyncClient) -> None:
    for origin in (APP, "http://localhost:5173"):
        response = await client.get("/exact", headers={"origin": origin})
        assert response.status_code == 200 and response.text == "hello"
        assert cors_fields(response) == {"access-control-allow-origin": origin, "vary": "Origin"}


async def test_another_origin_gets_no_cors_fields_but_the_request_still_runs(
    client: httpx.AsyncClient,
) -> None:
    for origin in (EVIL, "https://app.example.com.evil.example", "null", APP.upper()):
        response = await client.post("/exact", headers={"origin": origin}, content=b"x")
        assert response.status_code == 200 and response.text == "hello"
        assert cors_fields(response) == {"vary": "Origin"}
    same_origin = await client.get("/exact")
    assert cors_fields(same_origin) == {"vary": "Origin"}


async def test_every_origin_gets_a_wildcard_without_vary_or_credentials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/any", headers={"origin": EVIL, "cookie": "session=1"})
    assert cors_fields(response) == {"access-control-allow-origin": "*"}


async def test_credentials_go_to_the_exact_origin_only(client: httpx.AsyncClient) -> None:
    headers = {"origin": APP, "authorization": f"Bearer {KEY}"}
    response = await client.get("/credentials", headers=headers)
    assert response.status_code == 200
    assert cors_fields(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "vary": "Origin",
    }
    headers["origin"] = EVIL
    assert cors_fields(await client.get("/credentials", headers=headers)) == {"vary": "Origin"}


async def test_a_preflight_is_answered_without_running_the_function(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/trap", headers=preflight(APP, "PUT", "Content-Type, X-Request-Id")
    )
    assert response.status_code == 204
    assert response.content == b""
    assert cors_fields(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "PUT",
        "access-control-allow-headers": "Content-Type, X-Request-Id",
        "access-control-max-age": "600",
        "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }
    assert "trap" not in METRICS.functions or not METRICS.functions["trap"].invocations
    # The function itself traps: a request that is not a preflight reaches it.
    assert (await client.get("/trap", headers={"origin": APP})).status_code == 502


async def test_a_preflight_needs_no_api_key_and_allows_credentials_when_configured(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/credentials", headers=preflight(APP, "DELETE"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "DELETE"
    assert "access-control-allow-headers" not in response.headers


async def test_a_preflight_from_another_origin_is_refused_with_no_cors_fields(
    client: httpx.AsyncClient,
) -> None:
    for asked in (preflight(EVIL), preflight(APP, "PUT", "X-Ok, Bad Header"), preflight(APP, "")):
        response = await client.options("/exact", headers=asked)
        assert response.status_code == 403
        assert response.json() == {
            "error": "CORS preflight refused: this origin may not call this function"
        }
        assert cors_fields(response) == {
            "vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        }


async def test_a_preflight_with_any_origin_allowed_answers_a_wildcard(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/any", headers=preflight(EVIL, "PATCH"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_preflights_are_counted_by_function_and_result(client: httpx.AsyncClient) -> None:
    await client.options("/exact", headers=preflight(APP))
    await client.options("/exact", headers=preflight(APP))
    await client.options("/exact", headers=preflight(EVIL))
    counts = {
        labels: count
        for family, labels, count in METRICS.snapshot()
        if family.name == "pyjinn_cors_preflights"
    }
    assert counts == {("exact", "allowed"): 2, ("exact", "refused"): 1}


async def test_an_options_request_that_is_not_a_preflight_reaches_the_function(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/exact", headers={"origin": APP})
    assert response.status_code == 200 and response.text == "hello"


async def test_the_configuration_decides_who_may_read_whatever_the_function_says(
    client: httpx.AsyncClient,
) -> None:
    allowed = await client.get("/widening", headers={"origin": APP})
    assert allowed.text == "mine"
    assert cors_fields(allowed) == {
        "vary": "Accept-Encoding, Origin",
        "access-control-expose-headers": "X-Total",
        "access-control-allow-origin": APP,
    }
    refused = await client.get("/widening", headers={"origin": EVIL})
    assert cors_fields(refused) == {
        "vary": "Accept-Encoding, Origin",
        "access-control-expose-headers": "X-Total",
    }


async def test_without_cors_origin_the_functions_own_fields_pass_unchanged(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/plain", headers={"origin": EVIL})
    assert cors_fields(response) == {
        "access-control-allow-origin": "*",
        "access-control-allow-credentials": "true",
        "vary": "Accept-Encoding",
        "access-control-expose-headers": "X-Total",
    }


async def test_a_page_may_read_the_rate_limit_fields_of_a_limited_function(
    client: httpx.AsyncClient,
) -> None:
    admitted = await client.get("/limited", headers={"origin": APP})
    refused = await client.get("/limited", headers={"origin": APP})
    assert (admitted.status_code, refused.status_code) == (200, 429)
    for response in (admitted, refused):
        assert response.headers["access-control-allow-origin"] == APP
        exposed = response.headers["access-control-expose-headers"]
        assert exposed == "RateLimit, RateLimit-Policy, Retry-After"
    # A preflight takes no token: the bucket stays empty, the preflight is still answered.
    assert (await client.options("/limited", headers=preflight(APP))).status_code == 204


async def test_header_rules_apply_after_the_cors_fields(client: httpx.AsyncClient) -> None:
    # A plain rule yields to the answer's own fields, CORS included; a deferred one wins.
    answer = await client.get("/ruled", headers={"origin": APP})
    assert answer.headers["access-control-allow-origin"] == APP
    assert answer.headers["x-site"] == "ruled"
    refused = await client.get("/ruled", headers={"origin": EVIL})
    assert refused.headers["access-control-allow-origin"] == EVIL  # what the operator wrote
    response = await client.options("/ruled", headers=preflight(APP))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-max-age"] == "60"
    assert response.headers["x-site"] == "ruled"


def test_the_origin_rule_is_exact_comparison_as_browsers_send_origins() -> None:
    exact = Cors(("https://app.example.com", "http://localhost:5173"))
    assert exact.allows("https://app.example.com")
    assert exact.allows("http://localhost:5173")
    others = (
        None, "", "null", "https://app.example.com/", "https://APP.example.com",
        "http://app.example.com", "https://app.example.com:443", "http://localhost",
    )  # fmt: skip
    for other in others:
        assert not exact.allows(other), other
    anything = Cors(("*",))
    assert anything.allows("https://evil.example") and anything.allows("null")
    assert not anything.allows(None)
