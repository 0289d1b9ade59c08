"""Outbound requests: the exact allow-list, checked before any connection and at every
redirect, and deadlines. A real HTTP server on loopback answers (tests/servers.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pyjinn.egress import (
    AllowList,
    EgressClient,
    EgressDenied,
    EgressTimeout,
    EgressUnavailable,
    normalize_host,
    parse_allow_entry,
)
from tests.servers import ScriptedHttp


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


@pytest.fixture
def client() -> Iterator[EgressClient]:
    egress = EgressClient()
    yield egress
    egress.close()


@pytest.mark.parametrize(
    ("entries", "url"),
    [
        (["api.example.com"], "https://api.example.com/v1"),
        (["api.example.com"], "http://API.Example.COM.:8080/v1"),  # case, trailing dot, any port
        (["api.example.com:443"], "https://api.example.com/v1"),  # the default port
        (["127.0.0.1:8000"], "http://127.0.0.1:8000/v1"),
        (["[::1]:8000"], "http://[::1]:8000/"),
        (["bücher.example"], "https://xn--bcher-kva.example/"),  # one host, two spellings
    ],
)
def test_a_host_named_exactly_is_allowed(entries: list[str], url: str) -> None:
    assert AllowList.parse(entries).denial(url) is None


@pytest.mark.parametrize(
    ("entries", "url"),
    [
        (["example.com"], "https://api.example.com/"),  # a subdomain is another host
        (["example.com"], "https://example.com.evil.net/"),  # Gojinn's substring match let it in
        (["example.com"], "https://evilexample.com/"),
        (["127.0.0.1:8000"], "http://127.0.0.1:8001/"),  # another port
        (["api.example.com:443"], "http://api.example.com/"),  # port 80
        ([], "https://api.example.com/"),  # an empty list allows nothing
        (["api.example.com"], "https://user:pw@api.example.com/"),  # credentials are not sent
        (["api.example.com"], "file:///etc/passwd"),
        (["api.example.com"], "ftp://api.example.com/"),
    ],
)
def test_anything_else_is_denied(entries: list[str], url: str) -> None:
    assert AllowList.parse(entries).denial(url) is not None


def test_the_denial_names_the_host_and_what_is_allowed() -> None:
    denial = AllowList.parse(["api.example.com"]).denial("https://example.com.evil.net/x")
    assert denial == (
        "host example.com.evil.net:443 is not in allow_host (allowed: api.example.com)"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("https://api.example.com", "is a URL"),
        ("api.example.com:0", "the port must be"),
        ("api.example.com:http", "the port must be"),
        ("[::1", "closing ']'"),
        ("a/b", "is a URL"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_allow_entry(text)


def test_hosts_are_compared_in_one_form() -> None:
    assert normalize_host("Example.COM.") == "example.com"
    assert normalize_host("[::1]") == "::1"
    assert normalize_host("bücher.example") == "xn--bcher-kva.example"


def test_a_denied_host_gets_no_connection_at_all(
    client: EgressClient, scripted: ScriptedHttp
) -> None:
    allow = AllowList.parse(["127.0.0.2"])  # not the scripted server's host
    with pytest.raises(EgressDenied, match=r"127\.0\.0\.1"):
        client.request("POST", scripted.url("/ok"), allow=allow, deadline=time.monotonic() + 5)
    assert scripted.connections == 0


def test_an_allowed_host_is_reached(client: EgressClient, scripted: ScriptedHttp) -> None:
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    answer = client.request(
        "POST", scripted.url("/ok"), allow=allow, deadline=time.monotonic() + 5, body=b"{}"
    )
    assert answer.status == 200
    assert b"fixed answer" in answer.body


def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    client: EgressClient, scripted: ScriptedHttp
) -> None:
    other = ScriptedHttp()  # allowed by nobody: it must never see a connection
    try:
        scripted.redirect_to = other.url("/ok")
        allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
        with pytest.raises(EgressDenied, match=f"127.0.0.1:{other.port} is not in allow_host"):
            client.request(
                "POST", scripted.url("/redirect"), allow=allow, deadline=time.monotonic() + 5
            )
        assert other.connections == 0
    finally:
        other.stop()


def test_a_redirect_to_an_allowed_host_is_followed(
    client: EgressClient, scripted: ScriptedHttp
) -> None:
    scripted.redirect_to = scripted.url("/ok")
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    answer = client.request(
        "POST", scripted.url("/redirect"), allow=allow, deadline=time.monotonic() + 5
    )
    assert answer.status == 200
    assert [path for path, _ in scripted.requests] == ["/redirect", "/ok"]


def test_a_server_that_never_answers_is_cut_off_at_the_deadline(
    client: EgressClient, scripted: ScriptedHttp
) -> None:
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        client.request("POST", scripted.url("/hang"), allow=allow, deadline=started + 0.5)
    assert time.monotonic() - started < 5  # generous: the machine is loaded


def test_an_answer_over_the_size_cap_is_refused(
    client: EgressClient, scripted: ScriptedHttp
) -> None:
    scripted.answer = "x" * 5000
    allow = AllowList.parse([f"127.0.0.1:{scripted.port}"])
    with pytest.raises(EgressUnavailable, match="over 1000 bytes"):
        client.request(
            "POST",
            scripted.url("/ok"),
            allow=allow,
            deadline=time.monotonic() + 5,
            max_response=1000,
        )


def test_a_refused_connection_is_unavailable(client: EgressClient) -> None:
    from tests.servers import free_ports

    port = free_ports(1)[0]
    allow = AllowList.parse([f"127.0.0.1:{port}"])
    with pytest.raises(EgressUnavailable, match="ConnectError"):
        client.request(
            "POST", f"http://127.0.0.1:{port}/", allow=allow, deadline=time.monotonic() + 5
        )
