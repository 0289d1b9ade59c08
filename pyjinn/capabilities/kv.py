"""The key-value capability: per-tenant keys, guarded by ``kv_read`` and ``kv_write`` namespaces.

Keys are 1 to 256 characters from ``A-Z a-z 0-9 _ - . / =``, neither starting nor ending with
``.`` or ``/``, without ``..`` or ``//``: safe as NATS subjects, and namespaces are the parts
before a ``/``. A tenant's keys live in a store of its own; no call can name another tenant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pyjinn.abi import GRANTS, ErrorCode
from pyjinn.backends.kv import KeyValueStore, StoreUnavailable
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import Permissions

T = TypeVar("T")

MAX_KEY_LENGTH = 256
DEFAULT_MAX_VALUE = 1024 * 1024
_KEY = re.compile(r"[A-Za-z0-9_\-./=]+")
_PREFIX = re.compile(r"[A-Za-z0-9_\-./=]*")


def check_key(key: str, max_length: int = MAX_KEY_LENGTH) -> None:
    """Raise INVALID unless ``key`` is a valid key of at most ``max_length`` characters."""
    if not 0 < len(key) <= max_length:
        raise HostCallError(
            ErrorCode.INVALID, f"key must be 1 to {max_length} characters, got {len(key)}"
        )
    if not _KEY.fullmatch(key) or key[0] in "./" or key[-1] in "./" or ".." in key or "//" in key:
        raise HostCallError(
            ErrorCode.INVALID,
            f"invalid key {key[:80]!r}: use A-Z a-z 0-9 _ - . / =, not starting or ending "
            "with . or /, without .. or //",
        )


def check_prefix(prefix: str, max_length: int = MAX_KEY_LENGTH) -> None:
    """Raise INVALID unless ``prefix`` could start a key (the empty prefix included)."""
    if len(prefix) > max_length or not _PREFIX.fullmatch(prefix):
        raise HostCallError(ErrorCode.INVALID, f"invalid key prefix {prefix[:80]!r}")


class KeyValue:
    name = "kv"

    def __init__(self, store: KeyValueStore | None, *, max_value: int = DEFAULT_MAX_VALUE) -> None:
        self.store = store
        self.max_value = max_value

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        denied = grants.denial(permissions, call)
        if denied is not None or call == "kv_list":
            # Listing is allowed with any read grant; the result holds only readable keys.
            return denied
        grant = GRANTS[call]
        key = arguments[0]
        if permissions.allows(grant, key):
            return None
        return f"{grant} does not cover key {key[:80]!r}"

    def _store(self) -> KeyValueStore:
        if self.store is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no key-value store is configured")
        return self.store

    @staticmethod
    def _backend(operation: Callable[..., T], *arguments: Any, timeout: float) -> T:
        try:
            return operation(*arguments, timeout=timeout)
        except StoreUnavailable as error:
            raise HostCallError(
                ErrorCode.UNAVAILABLE, f"key-value store unavailable: {error}"
            ) from None
        except ValueError as error:  # a value the backend cannot hold
            raise HostCallError(ErrorCode.LIMIT, str(error)) from None

    def kv_get(self, call: Call, key: str) -> bytes:
        check_key(key)
        value = self._backend(self._store().get, call.tenant, key, timeout=call.budget())
        if value is None:
            raise HostCallError(ErrorCode.NOT_FOUND, f"no key {key!r}")
        return value

    def kv_set(self, call: Call, key: str, value: bytes) -> None:
        check_key(key)
        if len(value) > self.max_value:
            raise HostCallError(
                ErrorCode.LIMIT, f"value of {len(value)} bytes exceeds {self.max_value} bytes"
            )
        self._backend(self._store().set, call.tenant, key, value, timeout=call.budget())

    def kv_delete(self, call: Call, key: str) -> None:
        check_key(key)
        self._backend(self._store().delete, call.tenant, key, timeout=call.budget())

    def kv_list(self, call: Call, prefix: str) -> bytes:
        check_prefix(prefix)
        keys = self._backend(self._store().keys, call.tenant, prefix, timeout=call.budget())
        host = call.context.host
        assert host is not None
        readable = [key for key in keys if host.permissions.allows("kv_read", key)]
        return json.dumps(readable, separators=(",", ":")).encode()

    # Gojinn's conventions: copy up to out_max bytes; -1 for anything but a value.

    def host_kv_get(self, call: Call, key: str, out: tuple[int, int]) -> int:
        value = self.kv_get(call, key)
        pointer, capacity = out
        assert call.memory is not None
        copied = value[: max(capacity, 0)]
        call.memory.write(pointer, copied)
        return len(copied)

    def host_kv_set(self, call: Call, key: str, value: bytes) -> None:
        self.kv_set(call, key, value)
