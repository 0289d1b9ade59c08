"""The S3 backend against SeaweedFS: credentials are checked and keys are prefixed by tenant.
(A server that dies and comes back is tested through a function, in
tests/capabilities/test_blobs.py.)"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from pyjinn.backends.blobs import BlobStoreUnavailable
from pyjinn.backends.blobs.s3 import S3BlobStore
from pyjinn.config.model import BlobStorage
from tests.servers import SeaweedS3

pytestmark = pytest.mark.slow

TIMEOUT = 5.0


def storage(server: SeaweedS3, **changes: str) -> BlobStorage:
    """The server's bucket and credentials, with ``changes`` (a BlobStorage field each)."""
    return dataclasses.replace(
        BlobStorage(
            server.bucket,
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
        ),
        **changes,
    )


@pytest.fixture
def store(seaweed: SeaweedS3) -> Iterator[S3BlobStore]:
    made = S3BlobStore(storage(seaweed))
    yield made
    made.close()


def test_objects_live_under_the_tenants_prefix(store: S3BlobStore, seaweed: SeaweedS3) -> None:
    store.put("acme-prefix-test", "photos/cat.jpg", b"meow", timeout=TIMEOUT)
    listed = seaweed.client().list_objects_v2(  # type: ignore[attr-defined]
        Bucket=seaweed.bucket, Prefix="acme-prefix-test/"
    )
    assert [item["Key"] for item in listed["Contents"]] == ["acme-prefix-test/photos/cat.jpg"]


def test_a_wrong_secret_is_unavailable_and_never_shown(seaweed: SeaweedS3) -> None:
    wrong = S3BlobStore(storage(seaweed, secret_key="not-the-secret"))
    with pytest.raises(BlobStoreUnavailable) as raised:
        wrong.put("acme", "k", b"v", timeout=TIMEOUT)
    assert "SignatureDoesNotMatch" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    wrong.close()


def test_a_missing_bucket_is_unavailable(seaweed: SeaweedS3) -> None:
    missing = S3BlobStore(storage(seaweed, bucket="no-such-bucket"))
    with pytest.raises(BlobStoreUnavailable, match="NoSuchBucket"):
        missing.get("acme", "k", max_size=10, timeout=TIMEOUT)
    missing.close()
