"""Outbound HTTP that the host makes for a guest: one exact allow-list and one pooled client.

Every request the host sends on a guest's behalf (a model call, ``http_request``, Gojinn's
``host_http_get``) goes through :meth:`EgressClient.request`, which

- checks the URL against the function's :class:`AllowList` (``allow_host``) **before any
  connection is made**, and every redirect target the same way before following it (at most
  ``MAX_REDIRECTS``), from one parse of the URL (``allow``);
- resolves a name once and connects to the very addresses it checked, refusing loopback,
  private, link-local and metadata addresses unless that exact address is allowed
  (``addresses``);
- bounds every wait by the request's deadline and caps the answer's size before buffering it
  (``client``).

The config loader needs only the allow-list, so the client (and httpcore) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyjinn.egress.allow import (
    AllowEntry,
    AllowList,
    Target,
    normalize_host,
    parse_allow_entry,
    parse_target,
)
from pyjinn.egress.errors import (
    AddressRefused,
    EgressDenied,
    EgressError,
    EgressLimit,
    EgressTimeout,
    EgressUnavailable,
)

if TYPE_CHECKING:
    from pyjinn.egress.client import (
        DEFAULT_MAX_RESPONSE,
        MAX_REDIRECTS,
        EgressClient,
        HttpAnswer,
        shared_client,
    )

__all__ = [
    "DEFAULT_MAX_RESPONSE",
    "MAX_REDIRECTS",
    "AddressRefused",
    "AllowEntry",
    "AllowList",
    "EgressClient",
    "EgressDenied",
    "EgressError",
    "EgressLimit",
    "EgressTimeout",
    "EgressUnavailable",
    "HttpAnswer",
    "Target",
    "normalize_host",
    "parse_allow_entry",
    "parse_target",
    "shared_client",
]

_FROM_CLIENT = ("DEFAULT_MAX_RESPONSE", "MAX_REDIRECTS", "EgressClient", "HttpAnswer",
                "shared_client")  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _FROM_CLIENT:
        from pyjinn.egress import client

        return getattr(client, name)
    raise AttributeError(f"module 'pyjinn.egress' has no attribute {name!r}")
