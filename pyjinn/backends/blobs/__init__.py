"""Object stores: the contract every backend keeps.

Keys arrive validated (see ``pyjinn.capabilities.blobs``: the key-value key rules, at most 255
characters) and tenants are plain names (``[a-z0-9_-]``, at most 64 characters); a backend keeps
each tenant's objects apart (a directory, or a ``<tenant>/`` key prefix) so that no call for one
tenant can read, list or change another's. Calls come from guest threads, synchronously, with a
time budget in seconds; a backend that cannot answer in time or at all raises
``BlobStoreUnavailable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# More objects than this under one prefix is refused by blob_list rather than cut short.
MAX_LISTED = 10_000


class BlobStoreUnavailable(Exception):
    """The store cannot be reached, refused pyjinn's credentials, or did not answer in time."""


class BlobTooLarge(Exception):
    """An object is larger than the caller's limit; it was not read."""


class TooManyObjects(Exception):
    """A listing would hold more than ``MAX_LISTED`` objects."""


@dataclass(frozen=True)
class BlobInfo:
    """One listed object."""

    key: str
    size: int


class BlobStore(Protocol):
    """An object store partitioned by tenant."""

    def put(self, tenant: str, key: str, data: bytes, *, timeout: float) -> None:
        """Create or replace the object; readers see the old object or the new one, whole."""
        ...

    def get(self, tenant: str, key: str, *, max_size: int, timeout: float) -> bytes | None:
        """The object's bytes, or None when it does not exist. Raises ``BlobTooLarge``, before
        reading it, when it is larger than ``max_size``."""
        ...

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def list(self, tenant: str, prefix: str, *, timeout: float) -> list[BlobInfo]:
        """The objects whose keys start with ``prefix``, sorted by key. Raises
        ``TooManyObjects`` past ``MAX_LISTED``."""
        ...

    def close(self) -> None:
        """Release connections; further calls may fail."""
        ...
