"""Tenants and credentials: which tenant a request acts for, and which headers the guest sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.config.model import ApiKey, FunctionSpec
from pyjinn.tenants import TenantResolver, key_digest

KEY = "key-for-acme-0123456789"
OTHER = [(b"host", b"example.com"), (b"cookie", b"session=abc"), (b"x-request-id", b"7")]


def resolver(*, keys: bool = False, forward: tuple[str, ...] = ()) -> TenantResolver:
    api_keys = (ApiKey(key_digest(KEY), "acme"),) if keys else ()
    spec = FunctionSpec(
        "f", Path("/f.wasm"), api_keys=api_keys, tenant="default", forward_credentials=forward
    )
    return TenantResolver(spec)


@pytest.mark.parametrize(
    "credential",
    [
        (b"authorization", b"Bearer some-token"),
        (b"authorization", b"Basic dXNlcjpwYXNz"),
        (b"proxy-authorization", b"Basic cHJveHk6cGFzcw=="),
        (b"x-api-key", b"a-key-meant-for-someone-else"),
    ],
)
def test_without_api_keys_credential_headers_never_reach_the_guest(
    credential: tuple[bytes, bytes],
) -> None:
    tenant, headers = resolver().resolve([OTHER[0], credential, *OTHER[1:]])
    assert tenant == "default"
    assert list(headers) == OTHER


def test_a_request_without_credentials_keeps_its_headers_unchanged() -> None:
    tenant, headers = resolver().resolve(OTHER)
    assert (tenant, list(headers)) == ("default", OTHER)


def test_every_credential_header_is_removed_not_only_the_one_with_the_key() -> None:
    tenant, headers = resolver(keys=True).resolve(
        [
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"x-api-key", b"another-credential-0123456789"),
            (b"proxy-authorization", b"Basic cHJveHk6cGFzcw=="),
            *OTHER,
        ]
    )
    assert tenant == "acme"
    assert list(headers) == OTHER


def test_forward_credentials_passes_them_on_but_never_the_api_key() -> None:
    everything = ("Authorization", "Proxy-Authorization", "X-API-Key")
    tenant, headers = resolver(keys=True, forward=everything).resolve(
        [
            (b"x-api-key", KEY.encode()),
            (b"authorization", b"Bearer a-jwt-for-the-function"),
            (b"proxy-authorization", b"Basic cHJveHk6cGFzcw=="),
            *OTHER,
        ]
    )
    assert tenant == "acme"
    assert list(headers) == [
        (b"authorization", b"Bearer a-jwt-for-the-function"),
        (b"proxy-authorization", b"Basic cHJveHk6cGFzcw=="),
        *OTHER,
    ]


def test_forward_credentials_passes_only_the_headers_it_names() -> None:
    _, headers = resolver(forward=("Authorization",)).resolve(
        [
            (b"authorization", b"Bearer a-jwt-for-the-function"),
            (b"x-api-key", b"not-for-the-function"),
            (b"proxy-authorization", b"Basic cHJveHk6cGFzcw=="),
        ]
    )
    assert list(headers) == [(b"authorization", b"Bearer a-jwt-for-the-function")]
