"""The embedded object store's layout: one file per key, atomic writes, nothing outside the
tenant's directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyjinn.backends.blobs import BlobStoreUnavailable
from pyjinn.backends.blobs.filesystem import FilesystemBlobStore

TIMEOUT = 5.0


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs" / "media")


def test_objects_are_files_under_the_tenants_directory(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    store.put("acme", "photos/2026/cat.jpg", b"meow", timeout=TIMEOUT)
    tenant_dir = tmp_path / "blobs" / "media" / "acme"
    assert sorted(os.listdir(tenant_dir)) == ["photos%2026%cat.jpg"]
    assert (tenant_dir / "photos%2026%cat.jpg").read_bytes() == b"meow"
    assert oct(tenant_dir.stat().st_mode & 0o777) == "0o700"
    assert oct((tenant_dir / "photos%2026%cat.jpg").stat().st_mode & 0o777) == "0o600"


def test_a_write_leaves_no_temporary_file_behind(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    for number in range(5):
        store.put("acme", "doc", str(number).encode(), timeout=TIMEOUT)
    assert os.listdir(tmp_path / "blobs" / "media" / "acme") == ["doc"]


def test_temporary_and_foreign_files_are_not_listed(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    store.put("acme", "kept", b"x", timeout=TIMEOUT)
    (tmp_path / "blobs" / "media" / "acme" / ".0123.tmp").write_bytes(b"half")
    assert [info.key for info in store.list("acme", "", timeout=TIMEOUT)] == ["kept"]


def test_a_symbolic_link_planted_in_the_store_is_not_followed(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    store.put("acme", "real", b"x", timeout=TIMEOUT)
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the store")
    os.symlink(secret, tmp_path / "blobs" / "media" / "acme" / "link")
    with pytest.raises(BlobStoreUnavailable):
        store.get("acme", "link", max_size=1024, timeout=TIMEOUT)


def test_an_unwritable_store_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    store = FilesystemBlobStore(blocker)
    with pytest.raises(BlobStoreUnavailable):
        store.put("acme", "k", b"v", timeout=TIMEOUT)
    with pytest.raises(BlobStoreUnavailable):
        store.get("acme", "k", max_size=10, timeout=TIMEOUT)
