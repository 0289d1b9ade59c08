"""The object storage capability: per-tenant objects, guarded by ``blob_read`` and
``blob_write`` namespaces.

Keys follow the key-value key rules (``pyjinn.capabilities.kv``), at most 255 characters (one
file name in the embedded store); namespaces match as for key-value. Objects are at most
``blob_max_size`` bytes, checked before anything is buffered: a put's declared length before
guest memory is read, a get's stored size before the object is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pyjinn.abi import GRANTS, ErrorCode
from pyjinn.backends.blobs import BlobStore, BlobStoreUnavailable, BlobTooLarge, TooManyObjects
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.capabilities.kv import check_key, check_prefix
from pyjinn.config.model import DEFAULT_BLOB_MAX_SIZE, Permissions

T = TypeVar("T")

MAX_BLOB_KEY_LENGTH = 255


class Blobs:
    name = "blob"

    def __init__(
        self, stores: Mapping[str, BlobStore], *, max_size: int = DEFAULT_BLOB_MAX_SIZE
    ) -> None:
        """``stores`` holds each function's object store, by function name."""
        self.stores = stores
        self.max_size = max_size

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        denied = grants.denial(permissions, call)
        if denied is not None or call == "blob_list":
            # Listing is allowed with any read grant; the result holds only readable keys.
            return denied
        grant = GRANTS[call]
        key = arguments[0]
        if permissions.allows(grant, key):
            return None
        return f"{grant} does not cover key {key[:80]!r}"

    def blob_put(self, call: Call, key: str, data: tuple[int, int]) -> None:
        check_key(key, MAX_BLOB_KEY_LENGTH)
        store = self._store(call)
        content = call.read(data, self.max_size, "an object")  # blob_max_size, before copying
        _backend(store.put, call.tenant, key, content, timeout=call.budget())

    def blob_get(self, call: Call, key: str) -> bytes:
        check_key(key, MAX_BLOB_KEY_LENGTH)
        store = self._store(call)
        content = _backend(
            store.get, call.tenant, key, max_size=self.max_size, timeout=call.budget()
        )
        if content is None:
            raise HostCallError(ErrorCode.NOT_FOUND, f"no object {key!r}")
        return content

    def blob_delete(self, call: Call, key: str) -> None:
        check_key(key, MAX_BLOB_KEY_LENGTH)
        _backend(self._store(call).delete, call.tenant, key, timeout=call.budget())

    def blob_list(self, call: Call, prefix: str) -> bytes:
        check_prefix(prefix, MAX_BLOB_KEY_LENGTH)
        found = _backend(self._store(call).list, call.tenant, prefix, timeout=call.budget())
        host = call.context.host
        assert host is not None
        readable = [
            {"key": info.key, "size": info.size}
            for info in found
            if host.permissions.allows("blob_read", info.key)
        ]
        return json.dumps(readable, separators=(",", ":")).encode()

    # Gojinn's conventions: 0/1 for a put; copy up to out_max bytes, 0 on any error, for a get.

    def host_s3_put(self, call: Call, key: str, data: tuple[int, int]) -> None:
        self.blob_put(call, key, data)

    def host_s3_get(self, call: Call, key: str, out: tuple[int, int]) -> int:
        content = self.blob_get(call, key)
        pointer, capacity = out
        copied = content[: max(capacity, 0)]
        assert call.memory is not None
        call.memory.write(pointer, copied)
        return len(copied)

    def _store(self, call: Call) -> BlobStore:
        host = call.context.host
        store = self.stores.get(host.function) if host is not None else None
        if store is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no object storage is configured")
        return store


def _backend(operation: Callable[..., T], *arguments: Any, **options: Any) -> T:
    try:
        return operation(*arguments, **options)
    except BlobStoreUnavailable as error:
        raise HostCallError(ErrorCode.UNAVAILABLE, f"object storage unavailable: {error}") from None
    except (BlobTooLarge, TooManyObjects) as error:
        raise HostCallError(ErrorCode.LIMIT, str(error)) from None
