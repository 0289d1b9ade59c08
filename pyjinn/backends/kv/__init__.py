"""Key-value stores: the contract every backend keeps.

Keys arrive validated (see ``pyjinn.capabilities.kv``) and tenants are plain names
(``[a-z0-9_-]``, at most 64 characters); a backend keeps each tenant's keys apart so that no
call for one tenant can ever read, list or change another's. Calls come from guest threads,
synchronously, with a time budget in seconds; a backend that cannot answer in time or at all
raises ``StoreUnavailable``.
"""

from __future__ import annotations

from typing import Protocol


class StoreUnavailable(Exception):
    """The backend cannot be reached or did not answer within the time budget."""


class KeyValueStore(Protocol):
    """A key-value store partitioned by tenant."""

    def get(self, tenant: str, key: str, *, timeout: float) -> bytes | None:
        """The value of ``key``, or None when it does not exist."""
        ...

    def set(self, tenant: str, key: str, value: bytes, *, timeout: float) -> None:
        """Create or replace ``key``."""
        ...

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        ...

    def keys(self, tenant: str, prefix: str, *, timeout: float) -> list[str]:
        """Every existing key that starts with ``prefix``, sorted."""
        ...

    def close(self) -> None:
        """Release connections; further calls may fail."""
        ...
