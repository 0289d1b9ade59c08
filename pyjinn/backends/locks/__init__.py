"""Lock stores: the contract every backend keeps.

A lock is named per tenant (names arrive validated, as key-value keys are) and held by one
token at a time, for a time to live in whole seconds, after which it is free again whether or
not its holder let go: a holder that crashed never holds a lock forever. Only the token that
took a lock releases it. Calls come from guest threads, synchronously, with a time budget in
seconds; a backend that cannot answer in time or at all raises
:class:`~pyjinn.backends.kv.StoreUnavailable`.
"""

from __future__ import annotations

import enum
from typing import Protocol

MAX_TTL_SECONDS = 24 * 3600


class Release(enum.Enum):
    """How a release ended."""

    RELEASED = "released"
    NOT_HELD = "not_held"  # nobody holds it: released already, or its time ran out
    OTHER_HOLDER = "other_holder"  # another token holds it; nothing changed


class LockStore(Protocol):
    """Locks partitioned by tenant."""

    def acquire(self, tenant: str, name: str, token: str, ttl: int, *, timeout: float) -> bool:
        """Take lock ``name`` for ``token`` for ``ttl`` seconds unless another token holds it;
        True when taken (or already held by ``token``)."""
        ...

    def release(self, tenant: str, name: str, token: str, *, timeout: float) -> Release:
        """Let go of lock ``name`` if ``token`` holds it."""
        ...
