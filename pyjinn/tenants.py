"""Tenants: who a request acts for.

With API keys configured (``api_key KEY TENANT``, globally or per function), a request must
present one, as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, and acts for that key's
tenant; a missing or unknown key is refused (401) before the function runs. Without API keys,
every request acts for the function's configured tenant.

Keys are kept only as SHA-256 digests and looked up by digest, so checking a key takes the same
time whatever it shares with a valid one, and no key can leak into names, logs or records.

Credentials never reach a guest unless its function asks for them: ``Authorization``,
``Proxy-Authorization`` and ``X-API-Key`` are removed from every request, whether they carried an
API key or not, so a function cannot collect what clients present to pyjinn or to a proxy in
front of it. A function that does its own authentication names the headers it needs with
``forward_credentials``; even then, the header that carried the pyjinn API key is removed: the
guest gets the tenant, never the key. ``Cookie`` is application data (sessions) and is always
passed on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from pyjinn.config.model import FunctionSpec

TENANT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
# The headers that carry credentials, in lower case as ASGI gives them, with their usual spelling.
CREDENTIAL_HEADERS = {
    b"authorization": "Authorization",
    b"proxy-authorization": "Proxy-Authorization",
    b"x-api-key": "X-API-Key",
}


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class TenantResolver:
    """Resolves one function's requests to tenants."""

    __slots__ = ("_by_digest", "_withheld", "default")

    def __init__(self, spec: FunctionSpec) -> None:
        self._by_digest = {api_key.digest: api_key.tenant for api_key in spec.api_keys}
        self.default = spec.tenant
        forwarded = {name.lower().encode("ascii") for name in spec.forward_credentials}
        self._withheld = frozenset(CREDENTIAL_HEADERS) - forwarded

    @property
    def requires_key(self) -> bool:
        return bool(self._by_digest)

    def resolve(
        self, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[str | None, Sequence[tuple[bytes, bytes]]]:
        """The tenant for a request with these (lower-case ASGI) headers, or None to refuse;
        and the headers to hand the guest: without credentials the function did not ask for,
        and never with the one that carried the API key."""
        if not self._by_digest:
            return self.default, self._without_credentials(headers)
        found = _presented_key(headers)
        if found is None:
            return None, headers
        index, presented = found
        withheld = self._withheld
        forwarded = [
            header
            for position, header in enumerate(headers)
            if position != index and header[0] not in withheld
        ]
        return self._by_digest.get(key_digest(presented)), forwarded

    def _without_credentials(
        self, headers: Sequence[tuple[bytes, bytes]]
    ) -> Sequence[tuple[bytes, bytes]]:
        withheld = self._withheld
        for name, _ in headers:
            if name in withheld:
                return [header for header in headers if header[0] not in withheld]
        return headers  # the common case: nothing to remove, nothing copied


def _presented_key(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int, str] | None:
    """The position of the header carrying an API key, and the key."""
    for index, (name, value) in enumerate(headers):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return index, token.strip()
        elif name == b"x-api-key" and value.strip():
            return index, value.decode("latin-1").strip()
    return None
