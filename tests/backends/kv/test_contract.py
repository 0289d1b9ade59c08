"""The KeyValueStore contract, run against every backend.

Adding a backend: add one entry to ``BACKENDS`` — a function that receives the pytest request
(to ask for the fixtures it needs) and returns a store; the test closes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from pyjinn.backends.kv import KeyValueStore
from pyjinn.backends.kv.nats import NatsKeyValueStore

pytestmark = pytest.mark.slow

TIMEOUT = 5.0
# Every backend keeps values up to this size and raises ValueError above it.
MAX_VALUE = 1024 * 1024
KEY_CHARACTERS = "ABCXYZabcxyz0189_./=-"


def _nats(request: pytest.FixtureRequest) -> KeyValueStore:
    info = request.getfixturevalue("nats_server")
    return NatsKeyValueStore([info.url], user=info.user, password=info.password)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], KeyValueStore]] = {"nats": _nats}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest) -> Iterator[KeyValueStore]:
    backend = BACKENDS[request.param](request)
    yield backend
    backend.close()


@pytest.fixture
def tenant(new_tenant: Callable[[], str]) -> str:
    return new_tenant()


def test_missing_key_reads_as_none(store: KeyValueStore, tenant: str) -> None:
    assert store.get(tenant, "never-set", timeout=TIMEOUT) is None


def test_set_then_get_returns_the_value(store: KeyValueStore, tenant: str) -> None:
    store.set(tenant, "greeting", b"hello", timeout=TIMEOUT)
    assert store.get(tenant, "greeting", timeout=TIMEOUT) == b"hello"


def test_set_overwrites_the_previous_value(store: KeyValueStore, tenant: str) -> None:
    store.set(tenant, "counter", b"1", timeout=TIMEOUT)
    store.set(tenant, "counter", b"2", timeout=TIMEOUT)
    assert store.get(tenant, "counter", timeout=TIMEOUT) == b"2"
    assert store.keys(tenant, "", timeout=TIMEOUT) == ["counter"]


def test_empty_value_is_a_value_not_a_missing_key(store: KeyValueStore, tenant: str) -> None:
    store.set(tenant, "empty", b"", timeout=TIMEOUT)
    assert store.get(tenant, "empty", timeout=TIMEOUT) == b""
    assert store.keys(tenant, "", timeout=TIMEOUT) == ["empty"]


def test_delete_removes_the_key(store: KeyValueStore, tenant: str) -> None:
    store.set(tenant, "doomed", b"x", timeout=TIMEOUT)
    store.delete(tenant, "doomed", timeout=TIMEOUT)
    assert store.get(tenant, "doomed", timeout=TIMEOUT) is None
    assert store.keys(tenant, "", timeout=TIMEOUT) == []


def test_deleting_a_missing_key_is_not_an_error(store: KeyValueStore, tenant: str) -> None:
    store.delete(tenant, "never-set", timeout=TIMEOUT)
    store.set(tenant, "other", b"x", timeout=TIMEOUT)
    store.delete(tenant, "other", timeout=TIMEOUT)
    store.delete(tenant, "other", timeout=TIMEOUT)
    assert store.get(tenant, "other", timeout=TIMEOUT) is None


def test_a_deleted_key_can_be_set_again(store: KeyValueStore, tenant: str) -> None:
    store.set(tenant, "phoenix", b"1", timeout=TIMEOUT)
    store.delete(tenant, "phoenix", timeout=TIMEOUT)
    store.set(tenant, "phoenix", b"2", timeout=TIMEOUT)
    assert store.get(tenant, "phoenix", timeout=TIMEOUT) == b"2"
    assert store.keys(tenant, "", timeout=TIMEOUT) == ["phoenix"]


@pytest.mark.parametrize("size", [64 * 1024, MAX_VALUE - 1, MAX_VALUE])
def test_large_values_round_trip(store: KeyValueStore, tenant: str, size: int) -> None:
    value = bytes(index % 251 for index in range(size))
    store.set(tenant, "large", value, timeout=TIMEOUT)
    assert store.get(tenant, "large", timeout=TIMEOUT) == value


def test_value_over_the_limit_raises_value_error_and_stores_nothing(
    store: KeyValueStore, tenant: str
) -> None:
    store.set(tenant, "kept", b"old", timeout=TIMEOUT)
    with pytest.raises(ValueError, match="bytes"):
        store.set(tenant, "kept", b"x" * (MAX_VALUE + 1), timeout=TIMEOUT)
    assert store.get(tenant, "kept", timeout=TIMEOUT) == b"old"
    # The store stays usable afterwards.
    store.set(tenant, "after", b"ok", timeout=TIMEOUT)
    assert store.get(tenant, "after", timeout=TIMEOUT) == b"ok"


@pytest.mark.parametrize(
    "value",
    [bytes(range(256)), b"\x00" * 1000, b"\x00abc\x00\r\n\r\nPUB x 1\r\n", b"\xff\xfe" * 300],
    ids=["all-byte-values", "nuls", "protocol-lookalike", "invalid-utf8"],
)
def test_binary_values_round_trip_exactly(store: KeyValueStore, tenant: str, value: bytes) -> None:
    store.set(tenant, "binary", value, timeout=TIMEOUT)
    assert store.get(tenant, "binary", timeout=TIMEOUT) == value


def test_keys_with_every_allowed_character(store: KeyValueStore, tenant: str) -> None:
    keys = [f"k{character}k" for character in KEY_CHARACTERS]
    keys += [KEY_CHARACTERS.strip("."), "a/b/c", "x=y", "with-dash_and.dots.deep", "Z"]
    for index, key in enumerate(keys):
        store.set(tenant, key, str(index).encode(), timeout=TIMEOUT)
    for index, key in enumerate(keys):
        assert store.get(tenant, key, timeout=TIMEOUT) == str(index).encode(), key
    assert store.keys(tenant, "", timeout=TIMEOUT) == sorted(keys)


def test_keys_of_an_empty_tenant_is_an_empty_list(store: KeyValueStore, tenant: str) -> None:
    assert store.keys(tenant, "", timeout=TIMEOUT) == []
    assert store.keys(tenant, "any/", timeout=TIMEOUT) == []


def test_keys_lists_by_plain_string_prefix(store: KeyValueStore, tenant: str) -> None:
    for key in ["a/1", "a/2", "ab", "b", "b.c.d", "b.c2", "b.cx.y", "users.1", "users_x"]:
        store.set(tenant, key, b"v", timeout=TIMEOUT)
    store.set(tenant, "a/gone", b"v", timeout=TIMEOUT)
    store.delete(tenant, "a/gone", timeout=TIMEOUT)

    def keys(prefix: str) -> list[str]:
        return store.keys(tenant, prefix, timeout=TIMEOUT)

    assert keys("a/") == ["a/1", "a/2"]
    assert keys("a") == ["a/1", "a/2", "ab"]
    assert keys("ab") == ["ab"]
    assert keys("b.c") == ["b.c.d", "b.c2", "b.cx.y"]
    assert keys("b.c.") == ["b.c.d"]
    assert keys("b.c.d") == ["b.c.d"]
    assert keys("users") == ["users.1", "users_x"]
    assert keys("users.") == ["users.1"]
    assert keys("nothing") == []
    assert keys("nothing.at.") == []
    assert keys(".") == []
    assert keys("") == ["a/1", "a/2", "ab", "b", "b.c.d", "b.c2", "b.cx.y", "users.1", "users_x"]


def test_tenants_never_see_each_others_keys(
    store: KeyValueStore, new_tenant: Callable[[], str]
) -> None:
    alice, bob = new_tenant(), new_tenant()
    store.set(alice, "secret", b"alice's", timeout=TIMEOUT)
    store.set(alice, "shared/name", b"alice", timeout=TIMEOUT)

    assert store.get(bob, "secret", timeout=TIMEOUT) is None
    assert store.keys(bob, "", timeout=TIMEOUT) == []
    assert store.keys(bob, "shared/", timeout=TIMEOUT) == []

    store.set(bob, "secret", b"bob's", timeout=TIMEOUT)
    store.delete(bob, "shared/name", timeout=TIMEOUT)
    assert store.get(alice, "secret", timeout=TIMEOUT) == b"alice's"
    assert store.get(alice, "shared/name", timeout=TIMEOUT) == b"alice"
    assert store.get(bob, "secret", timeout=TIMEOUT) == b"bob's"

    store.delete(bob, "secret", timeout=TIMEOUT)
    assert store.get(alice, "secret", timeout=TIMEOUT) == b"alice's"
    assert store.keys(alice, "", timeout=TIMEOUT) == ["secret", "shared/name"]
    assert store.keys(bob, "", timeout=TIMEOUT) == []


def test_tenants_whose_names_share_a_prefix_stay_apart(
    store: KeyValueStore, new_tenant: Callable[[], str]
) -> None:
    base = new_tenant()
    store.set(base, "k", b"short", timeout=TIMEOUT)
    store.set(f"{base}_x", "k", b"long", timeout=TIMEOUT)
    store.set(f"{base}-x", "k", b"dash", timeout=TIMEOUT)
    assert store.get(base, "k", timeout=TIMEOUT) == b"short"
    assert store.get(f"{base}_x", "k", timeout=TIMEOUT) == b"long"
    assert store.get(f"{base}-x", "k", timeout=TIMEOUT) == b"dash"


def test_concurrent_threads_each_see_their_own_results(
    store: KeyValueStore, new_tenant: Callable[[], str]
) -> None:
    tenants = [new_tenant() for _ in range(2)]
    rounds = 40
    start = threading.Barrier(8)
    failures: list[str] = []

    def worker(number: int) -> None:
        tenant = tenants[number % 2]
        try:
            start.wait()
            for round_number in range(rounds):
                key = f"thread{number}/key{round_number % 5}"
                value = f"{number}:{round_number}".encode() * (1 + number)
                store.set(tenant, key, value, timeout=TIMEOUT)
                got = store.get(tenant, key, timeout=TIMEOUT)
                if got != value:
                    failures.append(f"thread {number} round {round_number}: {got!r} != {value!r}")
        except Exception as error:
            failures.append(f"thread {number}: {error!r}")

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    for index, tenant in enumerate(tenants):
        expected = sorted(
            f"thread{number}/key{slot}" for number in range(index, 8, 2) for slot in range(5)
        )
        assert store.keys(tenant, "", timeout=TIMEOUT) == expected
