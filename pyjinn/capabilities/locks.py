"""The lock capability: a tenant's named locks, guarded by ``lock`` namespaces.

Lock names follow the key rules (``pyjinn.capabilities.kv``) and the grant matches them as
``kv_read`` matches keys: ``lock jobs`` covers ``jobs`` and ``jobs/...``. A tenant's locks are
its own; across worker processes and nodes sharing NATS a lock has one holder at a time
(``pyjinn.backends.locks``).

- ``lock_acquire(name, ttl_seconds, wait_ms)`` takes the lock for at most ``ttl_seconds`` (1 to
  86400), waiting up to ``wait_ms`` for its holder to let go (never past the call's budget),
  and returns a fresh token, or ``BUSY``. An invocation that holds a lock already gets ``BUSY``
  for it too: locks are not reentrant.
- ``lock_release(name, token)`` lets go: ``DENIED`` for a token that does not hold it,
  ``NOT_FOUND`` when nobody holds it (its TTL ran out).
- Gojinn's ``host_mutex_lock(key, ttl)`` tries once; ``host_mutex_unlock(key)`` releases only a
  lock the calling invocation holds (the invocation is the holder; Gojinn let anyone unlock and
  ignored the TTL).

Whatever an invocation still holds when it ends (it returned, trapped or timed out) is released
then (``InvocationContext.resources``): a lock outlives its invocation only if the process dies,
and then its TTL frees it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pyjinn.abi import ErrorCode
from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.locks import MAX_TTL_SECONDS, LockStore, Release
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.capabilities.kv import check_key
from pyjinn.config.model import Permissions
from pyjinn.observability.metrics import REGISTRY as METRICS

T = TypeVar("T")

MAX_TOKEN_LENGTH = 128
# Seconds the releases at an invocation's end may take together (NATS down: the TTLs free them).
RELEASE_AT_END_BUDGET = 1.0
_FIRST_RETRY, _LAST_RETRY = 0.005, 0.25  # waits between tries of a waiting lock_acquire


class HeldLocks:
    """The locks one invocation holds (name -> token); released when it ends."""

    def __init__(self, store: LockStore, tenant: str, function: str) -> None:
        self.store = store
        self.tenant = tenant
        self.function = function
        self.tokens: dict[str, str] = {}

    def release(self) -> None:
        if not self.tokens:
            return
        METRICS.locks_left_held(self.function, len(self.tokens))
        deadline = time.monotonic() + RELEASE_AT_END_BUDGET
        for name, token in self.tokens.items():
            self.store.release(
                self.tenant, name, token, timeout=max(0.05, deadline - time.monotonic())
            )
        self.tokens.clear()


class Locks:
    name = "lock"

    def __init__(self, store: LockStore | None) -> None:
        self.store = store

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        denied = grants.denial(permissions, call)
        if denied is not None:
            return denied
        name = arguments[0]
        if permissions.allows("lock", name):
            return None
        return f"lock does not cover {name[:80]!r}"

    # -- pyjinn ---------------------------------------------------------------------------------

    def lock_acquire(self, call: Call, name: str, ttl_seconds: int, wait_ms: int) -> bytes:
        check_key(name)
        if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise HostCallError(
                ErrorCode.INVALID,
                f"ttl_seconds must be 1 to {MAX_TTL_SECONDS}, got {ttl_seconds}",
            )
        if wait_ms < 0:
            raise HostCallError(ErrorCode.INVALID, f"wait_ms must not be negative, got {wait_ms}")
        store, held = self._held(call)
        if name in held.tokens:
            raise HostCallError(ErrorCode.BUSY, f"this invocation holds lock {name!r} already")
        token = secrets.token_hex(16)
        give_up = time.monotonic() + min(wait_ms / 1000, call.budget(ceiling=3600.0))
        pause = _FIRST_RETRY
        while not self._backend(store.acquire, call.tenant, name, token, ttl_seconds, call=call):
            left = give_up - time.monotonic()
            if left <= 0:
                waited = f" after waiting {wait_ms} ms" if wait_ms else ""
                raise HostCallError(ErrorCode.BUSY, f"lock {name!r} is held by another{waited}")
            time.sleep(min(pause, left))
            pause = min(pause * 2, _LAST_RETRY)
        held.tokens[name] = token
        return token.encode()

    def lock_release(self, call: Call, name: str, token: str) -> None:
        check_key(name)
        if not 0 < len(token) <= MAX_TOKEN_LENGTH:
            raise HostCallError(
                ErrorCode.INVALID, f"a token is 1 to {MAX_TOKEN_LENGTH} characters long"
            )
        store, held = self._held(call)
        outcome = self._backend(store.release, call.tenant, name, token, call=call)
        if held.tokens.get(name) == token:
            del held.tokens[name]  # released, or no longer this invocation's in any case
        if outcome is Release.OTHER_HOLDER:
            raise HostCallError(
                ErrorCode.DENIED,
                f"lock {name!r} is held by another holder; only the token lock_acquire "
                "returned to it releases it",
            )
        if outcome is Release.NOT_HELD:
            raise HostCallError(
                ErrorCode.NOT_FOUND,
                f"lock {name!r} is not held (released already, or its TTL ran out)",
            )

    # -- gojinn ---------------------------------------------------------------------------------

    def host_mutex_lock(self, call: Call, key: str, ttl_seconds: int) -> None:
        self.lock_acquire(call, key, ttl_seconds, 0)

    def host_mutex_unlock(self, call: Call, key: str) -> None:
        check_key(key)
        _, held = self._held(call)
        token = held.tokens.get(key)
        if token is None:
            raise HostCallError(
                ErrorCode.DENIED,
                f"this invocation does not hold lock {key!r}; only its holder releases it",
            )
        self.lock_release(call, key, token)

    # -- shared ---------------------------------------------------------------------------------

    def _held(self, call: Call) -> tuple[LockStore, HeldLocks]:
        if self.store is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no lock store is configured")
        context = call.context
        resources = context.resources
        if resources is None:
            resources = context.resources = {}
        held = resources.get(self.name)
        if not isinstance(held, HeldLocks):
            function = context.host.function if context.host is not None else ""
            held = HeldLocks(self.store, context.tenant, function)
            resources[self.name] = held
        return self.store, held

    @staticmethod
    def _backend(operation: Callable[..., T], *arguments: Any, call: Call) -> T:
        try:
            return operation(*arguments, timeout=max(0.05, call.budget()))
        except StoreUnavailable as error:
            raise HostCallError(ErrorCode.UNAVAILABLE, f"lock store unavailable: {error}") from None
