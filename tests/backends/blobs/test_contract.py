"""The BlobStore contract, run against every backend.

Adding a backend: add one entry to ``BACKENDS`` — a function that receives the pytest request
(to ask for the fixtures it needs) and returns a store; the test closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyjinn.backends.blobs import BlobInfo, BlobStore, BlobTooLarge
from pyjinn.backends.blobs.filesystem import FilesystemBlobStore
from pyjinn.backends.blobs.s3 import S3BlobStore
from pyjinn.config.model import BlobStorage

TIMEOUT = 5.0
LIMIT = 32 * 1024 * 1024
KEY_CHARACTERS = "ABCXYZabcxyz0189_./=-"


def _filesystem(request: pytest.FixtureRequest) -> BlobStore:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return FilesystemBlobStore(tmp_path / "blobs" / "bucket")


def _s3(request: pytest.FixtureRequest) -> BlobStore:
    server = request.getfixturevalue("seaweed")
    return S3BlobStore(
        BlobStorage(
            server.bucket,
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
    )


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], BlobStore]] = {
    "filesystem": _filesystem,
    "s3": _s3,
}
SERVERS = ("s3",)  # backends that start a server: marked slow


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name in SERVERS else name for name in BACKENDS
    ]
)
def store(request: pytest.FixtureRequest) -> Iterator[BlobStore]:
    made = BACKENDS[request.param](request)
    yield made
    made.close()


@pytest.fixture
def tenant(new_tenant: Callable[[], str]) -> str:
    return new_tenant()


def get(store: BlobStore, tenant: str, key: str, limit: int = LIMIT) -> bytes | None:
    return store.get(tenant, key, max_size=limit, timeout=TIMEOUT)


def test_a_missing_object_reads_as_none(store: BlobStore, tenant: str) -> None:
    assert get(store, tenant, "never/put") is None


def test_put_then_get_returns_the_object(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "photos/cat.jpg", b"\xff\xd8 meow", timeout=TIMEOUT)
    assert get(store, tenant, "photos/cat.jpg") == b"\xff\xd8 meow"


def test_put_replaces_the_object(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "doc", b"first version, longer", timeout=TIMEOUT)
    store.put(tenant, "doc", b"second", timeout=TIMEOUT)
    assert get(store, tenant, "doc") == b"second"
    assert store.list(tenant, "", timeout=TIMEOUT) == [BlobInfo("doc", 6)]


def test_an_empty_object_is_an_object(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "empty", b"", timeout=TIMEOUT)
    assert get(store, tenant, "empty") == b""
    assert store.list(tenant, "", timeout=TIMEOUT) == [BlobInfo("empty", 0)]


def test_delete_removes_and_a_missing_delete_is_fine(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "doomed", b"x", timeout=TIMEOUT)
    store.delete(tenant, "doomed", timeout=TIMEOUT)
    store.delete(tenant, "doomed", timeout=TIMEOUT)
    store.delete(tenant, "never", timeout=TIMEOUT)
    assert get(store, tenant, "doomed") is None
    assert store.list(tenant, "", timeout=TIMEOUT) == []


@pytest.mark.parametrize("size", [4096, 1024 * 1024 + 1, 5 * 1024 * 1024 + 17])
def test_large_and_binary_objects_round_trip(store: BlobStore, tenant: str, size: int) -> None:
    data = bytes(index % 251 for index in range(size))
    store.put(tenant, "large", data, timeout=TIMEOUT)
    assert get(store, tenant, "large") == data


def test_an_object_over_the_limit_is_refused_without_reading(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "big", b"x" * 1001, timeout=TIMEOUT)
    with pytest.raises(BlobTooLarge, match="1001 bytes"):
        get(store, tenant, "big", limit=1000)
    assert get(store, tenant, "big", limit=1001) == b"x" * 1001


def test_a_key_and_keys_below_it_coexist(store: BlobStore, tenant: str) -> None:
    store.put(tenant, "a", b"1", timeout=TIMEOUT)
    store.put(tenant, "a/b", b"2", timeout=TIMEOUT)
    store.put(tenant, "a/b/c", b"3", timeout=TIMEOUT)
    assert [get(store, tenant, key) for key in ("a", "a/b", "a/b/c")] == [b"1", b"2", b"3"]


def test_keys_with_every_allowed_character(store: BlobStore, tenant: str) -> None:
    keys = [f"k{character}k" for character in KEY_CHARACTERS]
    keys += [KEY_CHARACTERS.strip("."), "x" * 255, "deep/er/and/deeper/still"]
    for index, key in enumerate(keys):
        store.put(tenant, key, str(index).encode(), timeout=TIMEOUT)
    for index, key in enumerate(keys):
        assert get(store, tenant, key) == str(index).encode(), key
    assert [info.key for info in store.list(tenant, "", timeout=TIMEOUT)] == sorted(keys)


def test_list_by_plain_prefix_with_sizes_sorted(store: BlobStore, tenant: str) -> None:
    for key in ["a/1", "a/2", "ab", "b", "b/c/d", "users.1", "users_x"]:
        store.put(tenant, key, key.encode(), timeout=TIMEOUT)

    def keys(prefix: str) -> list[str]:
        return [info.key for info in store.list(tenant, prefix, timeout=TIMEOUT)]

    assert keys("a/") == ["a/1", "a/2"]
    assert keys("a") == ["a/1", "a/2", "ab"]
    assert keys("b/") == ["b/c/d"]
    assert keys("users") == ["users.1", "users_x"]
    assert keys("nothing") == []
    assert store.list(tenant, "b/c", timeout=TIMEOUT) == [BlobInfo("b/c/d", 5)]


def test_tenants_never_see_each_others_objects(
    store: BlobStore, new_tenant: Callable[[], str]
) -> None:
    alice, bob = new_tenant(), new_tenant()
    store.put(alice, "secret", b"alice's", timeout=TIMEOUT)
    assert get(store, bob, "secret") is None
    assert store.list(bob, "", timeout=TIMEOUT) == []
    store.put(bob, "secret", b"bob's", timeout=TIMEOUT)
    store.delete(bob, "secret", timeout=TIMEOUT)
    assert get(store, alice, "secret") == b"alice's"
    assert store.list(alice, "", timeout=TIMEOUT) == [BlobInfo("secret", 7)]


def test_tenants_whose_names_share_a_prefix_stay_apart(
    store: BlobStore, new_tenant: Callable[[], str]
) -> None:
    base = new_tenant()
    store.put(base, "k", b"short", timeout=TIMEOUT)
    store.put(f"{base}_x", "k", b"long", timeout=TIMEOUT)
    assert get(store, base, "k") == b"short"
    assert [info.key for info in store.list(base, "", timeout=TIMEOUT)] == ["k"]


def test_concurrent_writers_leave_one_whole_object(store: BlobStore, tenant: str) -> None:
    versions = [bytes([number]) * 200_000 for number in range(6)]
    start = threading.Barrier(len(versions))
    failures: list[str] = []

    def writer(data: bytes) -> None:
        try:
            start.wait()
            for _ in range(3):
                store.put(tenant, "contended", data, timeout=TIMEOUT)
                seen = get(store, tenant, "contended")
                if seen not in versions:
                    failures.append("a reader saw a mix of two writes")
        except Exception as error:
            failures.append(repr(error))

    threads = [threading.Thread(target=writer, args=(data,)) for data in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert get(store, tenant, "contended") in versions
