"""Outbound HTTP end to end: a guest built with the C SDK calls http_request (and Gojinn's
host_http_get) through pyjinn, against real HTTP servers on loopback that its allow_host lists
explicitly. Every refusal the issue names comes back to the guest as its own error code, and
the guest answers (it is never trapped):

=========================================  ================
a host not in allow_host                   DENIED
127.0.0.1 when it is not listed            DENIED
169.254.169.254 (the metadata address)     DENIED
an allowed name resolving to loopback      ADDRESS_REFUSED
a redirect to a host not listed            DENIED
an answer over 8 MiB                       LIMIT
a server hanging past the deadline         TIMEOUT
a refused connection                       UNAVAILABLE
=========================================  ================

Names like ``rebind.test`` resolve through a resolver given to the capability's client (the
client's hook for it; a test cannot publish DNS records): the check of the addresses, the
sockets and HTTP stay the real path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from pyjinn.capabilities.http import Http
from pyjinn.egress import EgressClient
from pyjinn.egress.addresses import system_resolver
from pyjinn.errors import ModuleError
from pyjinn.observability.metrics import HTTP_REQUESTS, REGISTRY
from pyjinn.server.app import PyjinnApp
from tests.capabilities.http_guest import FETCH
from tests.sdk.support import build_c
from tests.servers import ScriptedHttp, free_ports

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


@pytest.fixture
def other() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


class Names:
    """Made-up names mapped to addresses; any other name goes to the system's resolver."""

    def __init__(self, **names: str) -> None:
        self.names = {name.replace("_", "."): address for name, address in names.items()}

    def __call__(self, host: str, port: int) -> list[str]:
        if host in self.names:
            return [self.names[host]]
        return system_resolver(host, port)


@pytest.fixture
def fetch(make_runtime, project) -> Iterator[Callable[..., httpx.AsyncClient]]:
    """``fetch(allow, settings="", names=None)``: an in-process client of the fetch guest as
    function ``fetch`` with ``allow_host allow`` and ``permissions { http }``."""
    project("fetch.wasm", build_c(FETCH))
    clients: list[EgressClient] = []

    def make(
        allow: str, settings: str = "", names: Names | None = None, timeout: str = "10s"
    ) -> httpx.AsyncClient:
        runtime = make_runtime(
            f"""
            :8080 {{
                pyjinn fetch.wasm {{
                    name fetch
                    timeout {timeout}
                    allow_host {allow}
                    permissions {{
                        http
                    }}
                    {settings}
                }}
            }}
            """
        )
        if names is not None:
            capability = runtime.capabilities["http"]
            assert isinstance(capability, Http)
            client = EgressClient(resolver=names)
            clients.append(client)
            runtime.capabilities["http"] = Http(capability.allow_lists, client)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=PyjinnApp(runtime)), base_url="http://testserver"
        )

    yield make
    for client in clients:
        client.close()


async def call(
    client: httpx.AsyncClient,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, Any] | None = None,
    body: bytes = b"",
    path: str = "/",
    **query: str,
) -> httpx.Response:
    extra = {"X-Out-Headers": json.dumps(headers)} if headers is not None else {}
    return await client.post(
        path,
        params={"url": url, "method": method, **query},
        content=body,
        headers=extra,
        timeout=60,
    )


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 502, response.text
    code: str = response.json()["code"]
    return code


async def test_an_allowed_loopback_server_answers_with_status_headers_and_body(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}")
    response = await call(
        client,
        scripted.url("/echo?x=1"),
        method="PUT",
        headers={"X-Token": "abc", "Accept": ["application/json", "text/plain"]},
        body=b"hello upstream",
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-upstream-status"] == "200"
    upstream_headers = json.loads(response.headers["x-upstream-headers"])
    assert upstream_headers["x-echo"] == ["one", "two"]  # repeated headers stay apart
    assert upstream_headers["content-type"] == ["application/json"]
    echoed = response.json()
    assert echoed["method"] == "PUT"
    assert echoed["path"] == "/echo?x=1"
    sent = dict((name, value) for name, value in echoed["headers"] if name != "accept")
    assert sent["x-token"] == "abc"
    assert sent["host"] == f"127.0.0.1:{scripted.port}"
    assert [value for name, value in echoed["headers"] if name == "accept"] == [
        "application/json",
        "text/plain",
    ]
    import base64

    assert base64.b64decode(echoed["body"]) == b"hello upstream"


async def test_any_upstream_status_is_an_answer_not_an_error(fetch, scripted: ScriptedHttp):
    client = fetch(f"127.0.0.1:{scripted.port}")
    response = await call(client, scripted.url("/status/404"))
    assert response.status_code == 200
    assert response.headers["x-upstream-status"] == "404"


async def test_a_host_not_in_allow_host_is_denied(fetch, scripted: ScriptedHttp) -> None:
    client = fetch("api.example.com")
    response = await call(client, "http://example.com/")
    assert refusal(response) == "DENIED"
    assert "host example.com:80 is not in allow_host" in response.json()["message"]


async def test_loopback_by_address_is_denied_when_it_is_not_listed(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch("api.example.com")
    assert refusal(await call(client, scripted.url("/ok"))) == "DENIED"
    assert scripted.connections == 0


async def test_the_metadata_address_is_denied(fetch) -> None:
    client = fetch("api.example.com")
    response = await call(client, "http://169.254.169.254/latest/meta-data/")
    assert refusal(response) == "DENIED"


async def test_an_allowed_name_that_resolves_to_loopback_is_refused(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"rebind.test:{scripted.port}", names=Names(rebind_test="127.0.0.1"))
    response = await call(client, f"http://rebind.test:{scripted.port}/ok")
    assert refusal(response) == "ADDRESS_REFUSED"
    assert "rebind.test resolved to 127.0.0.1, a loopback address" in response.json()["message"]
    assert scripted.connections == 0


async def test_an_allowed_name_that_resolves_to_the_metadata_address_is_refused(fetch) -> None:
    client = fetch("metadata.test", names=Names(metadata_test="169.254.169.254"))
    response = await call(client, "http://metadata.test/latest/meta-data/")
    assert refusal(response) == "ADDRESS_REFUSED"
    assert "cloud metadata" in response.json()["message"]


async def test_a_redirect_to_a_host_not_listed_is_not_followed(
    fetch, scripted: ScriptedHttp, other: ScriptedHttp
) -> None:
    scripted.redirect_to = other.url("/ok")
    client = fetch(f"127.0.0.1:{scripted.port}")
    response = await call(client, scripted.url("/redirect"))
    assert refusal(response) == "DENIED"
    assert f"127.0.0.1:{other.port} is not in allow_host" in response.json()["message"]
    assert other.connections == 0


async def test_an_answer_over_the_cap_is_refused(fetch, scripted: ScriptedHttp) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}")
    response = await call(client, scripted.url(f"/size/{9 * 1024 * 1024}"))
    assert refusal(response) == "LIMIT"
    response = await call(client, scripted.url(f"/stream/{9 * 1024 * 1024}"))
    assert refusal(response) == "LIMIT"


async def test_a_request_body_over_the_cap_is_refused_before_anything_is_sent(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}", settings="max_body 16MiB")
    response = await call(
        client, scripted.url("/echo"), method="POST", body=b"x" * (9 * 1024 * 1024)
    )
    assert refusal(response) == "LIMIT"
    assert scripted.connections == 0


async def test_a_server_hanging_past_the_deadline_times_out_and_the_guest_still_answers(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}", timeout="2s")
    started = time.monotonic()
    response = await call(client, scripted.url("/hang"))
    assert refusal(response) == "TIMEOUT"  # the guest kept time to answer
    assert time.monotonic() - started < 10


async def test_a_refused_connection_is_unavailable(fetch) -> None:
    port = free_ports(1)[0]
    client = fetch(f"127.0.0.1:{port}")
    assert refusal(await call(client, f"http://127.0.0.1:{port}/")) == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("method", "headers", "problem"),
    [
        ("CONNECT", None, "is not one of"),
        ("GET", {"Host": "elsewhere"}, "Host is set by the host"),
        ("GET", {"Transfer-Encoding": "chunked"}, "Transfer-Encoding is set by the host"),
        ("GET", {"X-A": "line\r\nX-Injected: 1"}, "without control characters"),
        ("GET", {"bad name": "v"}, "is not a header name"),
        ("GET", ["not", "an", "object"], "must be a JSON object"),
    ],
)
async def test_requests_that_cannot_be_sent_as_given_are_invalid(
    fetch, scripted: ScriptedHttp, method: str, headers: Any, problem: str
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}")
    response = await call(client, scripted.url("/echo"), method=method, headers=headers)
    assert refusal(response) == "INVALID"
    assert problem in response.json()["message"]
    assert scripted.connections == 0


async def test_gojinns_host_http_get_copies_what_fits_of_the_body(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}")
    whole = await call(client, scripted.url("/size/300"), path="/gojinn")
    assert whole.headers["x-copied"] == "300" and whole.content == b"x" * 300
    cut = await call(client, scripted.url("/size/300"), path="/gojinn", max="100")
    assert cut.headers["x-copied"] == "100" and cut.content == b"x" * 100


async def test_gojinns_host_http_get_returns_0_for_every_refusal(
    fetch, scripted: ScriptedHttp
) -> None:
    client = fetch(f"127.0.0.1:{scripted.port}")
    denied = await call(client, "http://169.254.169.254/", path="/gojinn")
    assert denied.status_code == 200 and denied.headers["x-copied"] == "0"


async def test_each_call_is_counted_by_function_host_and_result(
    fetch, scripted: ScriptedHttp
) -> None:
    REGISTRY.reset()
    client = fetch(f"127.0.0.1:{scripted.port}")
    await call(client, scripted.url("/ok"))
    await call(client, scripted.url("/status/503"))
    await call(client, "http://169.254.169.254/")
    counts = {
        labels: count for family, labels, count in REGISTRY.snapshot() if family is HTTP_REQUESTS
    }
    host = f"127.0.0.1:{scripted.port}"
    assert counts == {
        ("fetch", host, "2xx"): 1,
        ("fetch", host, "5xx"): 1,
        ("fetch", "refused", "denied"): 1,
    }


async def test_a_module_importing_http_without_the_grant_is_refused_at_load(
    make_runtime, project
) -> None:
    project("fetch.wasm", build_c(FETCH))
    runtime = make_runtime(":8080 {\n pyjinn fetch.wasm\n}\n")
    with pytest.raises(ModuleError, match="which need the http grant") as refused:
        runtime.functions["fetch"].module  # noqa: B018 - loading is the point
    assert "add the line `http` to its permissions block" in str(refused.value)
