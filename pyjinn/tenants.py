"""Tenants: who a request acts for.

With API keys configured (``api_key KEY TENANT``, globally or per function), a request must
present one, as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, and acts for that key's
tenant; a missing or unknown key is refused (401) before the function runs. Without API keys,
every request acts for the function's configured tenant.

Keys are kept only as SHA-256 digests and looked up by digest, so checking a key takes the same
time whatever it shares with a valid one, and no key can leak into names, logs or records.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from pyjinn.config.model import FunctionSpec

TENANT_NAME = re.compile(r"[a-z0-9_-]{1,64}")


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class TenantResolver:
    """Resolves one function's requests to tenants."""

    __slots__ = ("_by_digest", "default")

    def __init__(self, spec: FunctionSpec) -> None:
        self._by_digest = {api_key.digest: api_key.tenant for api_key in spec.api_keys}
        self.default = spec.tenant

    @property
    def requires_key(self) -> bool:
        return bool(self._by_digest)

    def resolve(self, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
        """The tenant for a request with these (lower-case ASGI) headers, or None to refuse."""
        if not self._by_digest:
            return self.default
        presented = _presented_key(headers)
        if presented is None:
            return None
        return self._by_digest.get(key_digest(presented))


def _presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None
