"""Any S3-compatible service, through boto3: objects under ``<tenant>/`` in one bucket.

- **Clients.** One boto3 client per time budget tier (at most five, made on first use and
  shared by every thread): botocore fixes timeouts when a client is made, so a call takes the
  client whose connect and read timeouts fit in its budget. Path-style addressing, SigV4, one
  retry.
- **Tenants.** Every key is ``<tenant>/<key>``; listings ask only for the tenant's prefix.
- **Size.** A get looks at the object's ``ContentLength`` before reading its body.
- **Credentials** are never logged; errors name the bucket and the service's error code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import botocore.exceptions
from botocore.config import Config

from pyjinn.backends.blobs import (
    MAX_LISTED,
    BlobInfo,
    BlobStoreUnavailable,
    BlobTooLarge,
    TooManyObjects,
)
from pyjinn.config.model import BlobStorage

T = TypeVar("T")

DEFAULT_REGION = "us-east-1"
# Budget tiers in seconds: a call uses the largest tier within its budget (the smallest if
# none is).
TIERS = (0.25, 0.5, 1.0, 2.0, 5.0)
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_NETWORK_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.ResponseStreamingError,
)


class S3BlobStore:
    """Objects in ``storage.bucket`` at ``storage.endpoint`` (AWS S3 when None)."""

    def __init__(self, storage: BlobStorage) -> None:
        self.bucket = storage.bucket
        self._storage = storage
        self._clients: dict[float, Any] = {}
        self._lock = threading.Lock()

    def put(self, tenant: str, key: str, data: bytes, *, timeout: float) -> None:
        client = self._client(timeout)
        self._request(
            lambda: client.put_object(Bucket=self.bucket, Key=f"{tenant}/{key}", Body=data)
        )

    def get(self, tenant: str, key: str, *, max_size: int, timeout: float) -> bytes | None:
        client = self._client(timeout)

        def get() -> bytes | None:
            try:
                response = client.get_object(Bucket=self.bucket, Key=f"{tenant}/{key}")
            except botocore.exceptions.ClientError as error:
                if _code(error) in _MISSING:
                    return None
                raise
            body = response["Body"]
            try:
                size = int(response.get("ContentLength", 0))
                if size > max_size:
                    raise BlobTooLarge(f"the object is {size} bytes, more than {max_size}")
                data: bytes = body.read()
            finally:
                body.close()
            return data

        return self._request(get)

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        client = self._client(timeout)
        self._request(lambda: client.delete_object(Bucket=self.bucket, Key=f"{tenant}/{key}"))

    def list(self, tenant: str, prefix: str, *, timeout: float) -> list[BlobInfo]:
        client = self._client(timeout)
        start = len(tenant) + 1

        def list_pages() -> list[BlobInfo]:
            found: list[BlobInfo] = []
            pages = client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=f"{tenant}/{prefix}"):
                for item in page.get("Contents", ()):
                    found.append(BlobInfo(item["Key"][start:], int(item["Size"])))
                if len(found) > MAX_LISTED:
                    raise TooManyObjects(
                        f"more than {MAX_LISTED} objects start with {prefix!r}; "
                        "list a longer prefix"
                    )
            found.sort(key=lambda info: info.key)
            return found

        return self._request(list_pages)

    def _request(self, operation: Callable[[], T]) -> T:
        """Run ``operation``, turning the service's failures into ``BlobStoreUnavailable``
        (naming the bucket and the error code, never the credentials)."""
        try:
            return operation()
        except botocore.exceptions.ClientError as error:
            raise BlobStoreUnavailable(
                f"S3 refused the request for bucket {self.bucket!r}: {_code(error)}"
            ) from None
        except _NETWORK_ERRORS as error:
            raise BlobStoreUnavailable(
                f"S3 did not answer for bucket {self.bucket!r}: {type(error).__name__}"
            ) from None
        except botocore.exceptions.BotoCoreError as error:
            raise BlobStoreUnavailable(f"S3 request failed: {type(error).__name__}") from None

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def _client(self, budget: float) -> Any:
        tier = max((tier for tier in TIERS if tier <= budget), default=TIERS[0])
        client = self._clients.get(tier)
        if client is None:
            with self._lock:
                client = self._clients.get(tier)
                if client is None:
                    client = self._clients[tier] = self._make_client(tier)
        return client

    def _make_client(self, seconds: float) -> Any:
        storage = self._storage
        config = Config(
            region_name=storage.region or DEFAULT_REGION,
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=seconds,
            read_timeout=seconds,
            retries={"mode": "standard", "total_max_attempts": 2},
            max_pool_connections=32,
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=storage.endpoint,
            aws_access_key_id=storage.access_key,
            aws_secret_access_key=storage.secret_key,
            config=config,
        )


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))
