"""NATS-specific behaviour of NatsKeyValueStore: outages, recovery, credentials, and the
bounded set of connections a process holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import nats
import pytest

from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.kv.nats import DEFAULT_READ_CONNECTIONS, NatsKeyValueStore
from pyjinn.services.nats import ConnectInfo, EmbeddedNats
from tests.backends.conftest import PlainNats

pytestmark = pytest.mark.slow

Closing = Callable[[NatsKeyValueStore], NatsKeyValueStore]


def store_for(info: ConnectInfo, *, password: str | None = None) -> NatsKeyValueStore:
    return NatsKeyValueStore([info.url], user=info.user, password=password or info.password)


@pytest.fixture
def closing() -> Iterator[Closing]:
    """Registers stores to close after the test, even when it fails."""
    stores: list[NatsKeyValueStore] = []

    def register(store: NatsKeyValueStore) -> NatsKeyValueStore:
        stores.append(store)
        return store

    yield register
    for store in stores:
        store.close()


def pyjinn_connections(server: PlainNats) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{server.monitoring}/connz?limit=1000", timeout=5) as answer:
        connections: list[dict[str, object]] = json.load(answer)["connections"] or []
    return [c for c in connections if str(c.get("name", "")).startswith("pyjinn-kv")]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def freeze(pid: int) -> None:
    """SIGSTOP ``pid`` and wait until every thread of it has stopped (delivery is lazy)."""
    os.kill(pid, signal.SIGSTOP)

    def all_stopped() -> bool:
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        return all(state in ("T", "t") for state in states)

    wait_for(all_stopped)


def _record(errors: list[BaseException], store: NatsKeyValueStore, timeout: float) -> None:
    try:
        store.get("tenant", "key", timeout=timeout)
    except BaseException as error:
        errors.append(error)


def _record_set(errors: list[BaseException], store: NatsKeyValueStore, timeout: float) -> None:
    try:
        store.set("tenant", "key", b"late", timeout=timeout)
    except BaseException as error:
        errors.append(error)


def test_no_server_listening_raises_store_unavailable_quickly(closing: Closing) -> None:
    store = closing(NatsKeyValueStore(["nats://127.0.0.1:1"], user="u", password="p"))
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"cannot connect to NATS \(nats://127\.0\.0\.1:1: "):
        store.get("tenant", "key", timeout=2.0)
    assert time.monotonic() - started < 1.0


def test_server_going_away_gives_store_unavailable_within_the_timeout(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    store = closing(store_for(server.connect_info))
    store.set("tenant", "key", b"value", timeout=2.0)
    server.stop()
    for call in (
        lambda: store.get("tenant", "key", timeout=0.5),
        lambda: store.set("tenant", "key", b"v", timeout=0.5),
        lambda: store.delete("tenant", "key", timeout=0.5),
        lambda: store.keys("tenant", "", timeout=0.5),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call()
        assert time.monotonic() - started < 1.25  # half a second asked; slack for a loaded machine


def test_a_hung_server_is_bounded_by_the_call_timeout(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    store = closing(store_for(server.connect_info))
    store.set("tenant", "key", b"value", timeout=2.0)
    assert server.pid is not None
    freeze(server.pid)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"did not complete the get within 0.3 s"):
            store.get("tenant", "key", timeout=0.3)
        assert 0.29 <= time.monotonic() - started < 1.0  # 0.3 s asked, not nats-py's 2 s
        # A thread connecting for the first time to the hung server is bounded too.
        errors: list[BaseException] = []
        thread = threading.Thread(target=lambda: _record(errors, store, timeout=0.3))
        started = time.monotonic()
        thread.start()
        thread.join()
        assert time.monotonic() - started < 1.25
        assert len(errors) == 1 and isinstance(errors[0], StoreUnavailable)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert store.get("tenant", "key", timeout=2.0) == b"value"


def test_store_recovers_when_the_server_is_back_with_its_data(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    info = server.connect_info
    store = closing(store_for(info))
    store.set("tenant", "kept", b"across restarts", timeout=2.0)
    server.stop()
    with pytest.raises(StoreUnavailable):
        store.get("tenant", "kept", timeout=0.5)
    assert server.start() == info  # same port, same credential, same store
    assert store.get("tenant", "kept", timeout=2.0) == b"across restarts"
    assert store.keys("tenant", "", timeout=2.0) == ["kept"]


def test_a_restart_between_calls_costs_no_failed_call(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    store = closing(store_for(server.connect_info))
    store.set("tenant", "key", b"1", timeout=2.0)
    server.stop()
    server.start()
    # The old connection is dead but looks alive until the loop runs; the call notices the
    # close, connects again and retries instead of failing.
    store.set("tenant", "key", b"2", timeout=2.0)
    server.stop()
    server.start()
    assert store.get("tenant", "key", timeout=2.0) == b"2"


def test_wrong_password_is_refused_without_revealing_it(
    nats_server: ConnectInfo, closing: Closing
) -> None:
    wrong = "not-the-password-" + nats_server.password[:4]
    store = closing(store_for(nats_server, password=wrong))
    with pytest.raises(StoreUnavailable) as raised:
        store.get("tenant", "key", timeout=2.0)
    message = str(raised.value)
    assert "Authorization" in message
    assert wrong not in message and nats_server.password not in message
    assert wrong not in repr(store) and nats_server.password not in repr(store)


def test_missing_credentials_are_refused(nats_server: ConnectInfo, closing: Closing) -> None:
    store = closing(NatsKeyValueStore([nats_server.url], user=None, password=None))
    with pytest.raises(StoreUnavailable, match="Authorization"):
        store.set("tenant", "key", b"v", timeout=2.0)


def test_credentials_in_a_server_url_never_reach_messages(closing: Closing) -> None:
    store = closing(
        NatsKeyValueStore(["nats://someone:hunter2@127.0.0.1:1"], user=None, password=None)
    )
    with pytest.raises(StoreUnavailable) as raised:
        store.get("tenant", "key", timeout=1.0)
    assert "hunter2" not in str(raised.value) and "hunter2" not in repr(store)


def own_connections_to(url: str) -> int:
    """How many TCP sockets of this process are connected to the server at ``url``, whatever
    their state (the kernel's view: it answers even while the server is frozen)."""
    port = int(url.rsplit(":", 1)[1])
    inodes = set()
    for descriptor in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(descriptor)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, inode = fields[2], fields[9]
        if int(remote.split(":")[1], 16) == port and inode in inodes:
            count += 1
    return count


def pyjinn_connections_ever(server: PlainNats) -> list[dict[str, object]]:
    """Every pyjinn connection the server has seen, open or closed since."""
    with urllib.request.urlopen(
        f"{server.monitoring}/connz?state=all&limit=10000", timeout=5
    ) as answer:
        connections: list[dict[str, object]] = json.load(answer)["connections"] or []
    return [c for c in connections if str(c.get("name", "")).startswith("pyjinn-kv")]


def test_64_threads_share_a_bounded_number_of_connections(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    start = threading.Barrier(64)
    failures: list[str] = []

    def guest(number: int) -> None:
        try:
            start.wait()
            for round_number in range(5):
                value = f"{number}:{round_number}".encode()
                store.set("tenant", f"k{number}", value, timeout=30.0)
                for _ in range(3):
                    if store.get("tenant", f"k{number}", timeout=30.0) != value:
                        failures.append(f"thread {number} read a wrong value")
            store.keys("tenant", f"k{number}", timeout=30.0)
            store.delete("tenant", f"k{number}", timeout=30.0)
        except Exception as error:
            failures.append(f"thread {number}: {error!r}")

    threads = [threading.Thread(target=guest, args=(n,), name=f"guest-{n}") for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    # Every connection the server ever accepted from the store, not a sample: the bound held
    # throughout, and nothing was replaced (nothing broke).
    ever = pyjinn_connections_ever(server)
    assert len(ever) <= DEFAULT_READ_CONNECTIONS + 1, sorted(str(c["name"]) for c in ever)
    assert len([c for c in ever if c["name"] == f"pyjinn-kv {os.getpid()}"]) == 1


def test_a_caller_that_finds_every_connection_busy_gets_unavailable_within_its_budget(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore([server.url], user=None, password=None, connections=2))
    store.set("tenant", "key", b"value", timeout=5.0)
    freeze(server.process.pid)  # gets now hold their connection until the server answers
    holders: list[bytes | BaseException | None] = []

    def hold() -> None:
        try:
            holders.append(store.get("tenant", "key", timeout=30.0))
        except BaseException as error:
            holders.append(error)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: store._direct.in_use == 2)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="none of the 2 connections to NATS"):
            store.get("tenant", "key", timeout=0.5)
        waited = time.monotonic() - started
        assert 0.45 <= waited < 2.0
        # It waited for a connection instead of opening a third one for reads.
        assert own_connections_to(server.url) <= 3
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        for thread in threads:
            thread.join()
    assert holders == [b"value", b"value"]
    assert store.get("tenant", "key", timeout=5.0) == b"value"


def test_a_server_restart_under_concurrent_calls_is_recovered_from_within_the_bound(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    info = server.connect_info
    store = closing(store_for(info))
    store.set("tenant", "warm", b"up", timeout=5.0)
    restarted = threading.Event()
    stop = threading.Event()
    lock = threading.Lock()
    recovered: set[int] = set()
    unexpected: list[BaseException] = []

    def guest(number: int) -> None:
        round_number = 0
        while not stop.is_set():
            round_number += 1
            value = f"{number}:{round_number}".encode()
            after_restart = restarted.is_set()
            try:
                store.set("tenant", f"k{number}", value, timeout=5.0)
                assert store.get("tenant", f"k{number}", timeout=5.0) == value
            except StoreUnavailable:
                continue  # the outage
            except BaseException as error:
                with lock:
                    unexpected.append(error)
                return
            if after_restart:
                with lock:
                    recovered.add(number)

    threads = [threading.Thread(target=guest, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        server.stop()
        time.sleep(0.3)
        assert server.start() == info
        restarted.set()
        wait_for(lambda: len(recovered) == 16 or bool(unexpected), timeout=30.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert unexpected == []
    assert recovered == set(range(16))
    assert own_connections_to(info.url) <= DEFAULT_READ_CONNECTIONS + 1
    assert store.get("tenant", "warm", timeout=5.0) == b"up"


def test_calls_in_flight_when_the_server_dies_end_at_once_and_a_restarted_server_serves(
    start_nats: Callable[..., EmbeddedNats], closing: Closing
) -> None:
    server = start_nats()
    info = server.connect_info
    store = closing(store_for(info))
    store.set("tenant", "kept", b"before", timeout=5.0)
    assert server.pid is not None
    freeze(server.pid)
    # 12 MB of writes the frozen server does not read fill the socket buffers, so writes are
    # still queued in the client when the server dies and the connection is reset.
    outcomes: list[BaseException | None] = []

    def write(number: int) -> None:
        try:
            store.set("tenant", f"big{number}", b"x" * 1_000_000, timeout=60.0)
            outcomes.append(None)
        except BaseException as error:
            outcomes.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    os.kill(server.pid, signal.SIGKILL)
    killed = time.monotonic()
    for thread in threads:
        thread.join()
    assert time.monotonic() - killed < 10.0  # not their 60 s
    assert len(outcomes) == 12
    assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes), outcomes

    assert server.restart() == info  # as the supervisor does: same port, credential, store
    assert store.get("tenant", "kept", timeout=5.0) == b"before"
    store.set("tenant", "kept", b"after", timeout=5.0)
    assert store.get("tenant", "kept", timeout=5.0) == b"after"


def test_close_ends_a_call_in_flight_and_closes_every_connection(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    store.set("tenant", "key", b"v", timeout=5.0)
    assert store.get("tenant", "key", timeout=5.0) == b"v"
    freeze(server.process.pid)  # the next calls wait for an answer
    errors: list[BaseException] = []
    try:
        busy = [
            threading.Thread(target=lambda: _record(errors, store, timeout=30.0)),
            threading.Thread(target=lambda: _record_set(errors, store, timeout=30.0)),
        ]
        for thread in busy:
            thread.start()
        wait_for(lambda: store._direct.in_use == 1)
        time.sleep(0.1)  # let the set reach the loop
        started = time.monotonic()
        store.close()
        for thread in busy:
            thread.join()
        assert time.monotonic() - started < 10.0  # not their 30 s
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    assert len(errors) == 2 and all(isinstance(error, StoreUnavailable) for error in errors)
    assert own_connections_to(server.url) == 0
    wait_for(lambda: pyjinn_connections(server) == [])
    with pytest.raises(StoreUnavailable, match="closed"):
        store.get("tenant", "key", timeout=1.0)
    with pytest.raises(StoreUnavailable, match="closed"):
        store.set("tenant", "key", b"v", timeout=1.0)


def test_a_forked_child_connects_anew_and_leaves_the_parents_connections_alone(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    store.set("tenant", "key", b"parent", timeout=5.0)
    assert store.get("tenant", "key", timeout=5.0) == b"parent"
    before = {c["cid"] for c in pyjinn_connections_ever(server)}
    assert len(before) == 2  # one for reads, one for the rest

    child = os.fork()
    if child == 0:
        status = 1
        try:
            # Before the child's first call, it holds none of the parent's sockets.
            if own_connections_to(server.url) == 0:
                store.set("tenant", "child", b"child", timeout=5.0)
                if store.get("tenant", "key", timeout=5.0) == b"parent":
                    status = 0
            store.close()
        finally:
            os._exit(status)
    _, exit_status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(exit_status) == 0

    # The child used connections of its own; the parent's are still open and still serve it.
    ever = pyjinn_connections_ever(server)
    assert len(ever) == 4
    still_open = {c["cid"] for c in pyjinn_connections(server)}
    assert still_open == before
    assert store.get("tenant", "child", timeout=5.0) == b"child"
    store.set("tenant", "key", b"again", timeout=5.0)
    assert {c["cid"] for c in pyjinn_connections_ever(server)} == {c["cid"] for c in ever}


def test_server_without_jetstream_is_reported_as_unavailable(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats(jetstream=False)
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    with pytest.raises(StoreUnavailable, match="JetStream"):
        store.get("tenant", "key", timeout=2.0)


def test_first_reachable_server_of_several_is_used(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore(["nats://127.0.0.1:1", server.url], user=None, password=None))
    for _ in range(3):  # whichever order they are tried in
        store.set("tenant", "key", b"v", timeout=2.0)
        assert store.get("tenant", "key", timeout=2.0) == b"v"


def test_buckets_are_named_after_the_tenant_and_serve_direct_gets(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    store.set("acme-corp_1", "key", b"v", timeout=2.0)
    with urllib.request.urlopen(f"{server.monitoring}/jsz?streams=true&config=true") as answer:
        details = json.load(answer)["account_details"][0]["stream_detail"]
    (stream,) = details
    assert stream["name"] == "KV_pyjinn_acme-corp_1"
    assert stream["config"]["allow_direct"] is True
    assert stream["config"]["max_msgs_per_subject"] == 1


def test_a_bucket_created_elsewhere_without_direct_gets_still_works(
    start_plain_nats: Callable[..., PlainNats], closing: Closing
) -> None:
    server = start_plain_nats()

    async def create_legacy_bucket() -> None:
        client = await nats.connect(server.url)
        try:
            bucket = await client.jetstream().create_key_value(bucket="pyjinn_legacy", history=5)
            await bucket.put("kept", b"\x00value")
            await bucket.put("gone", b"x")
            await bucket.delete("gone")
        finally:
            await client.close()

    asyncio.run(create_legacy_bucket())
    with urllib.request.urlopen(f"{server.monitoring}/jsz?streams=true&config=true") as answer:
        (stream,) = json.load(answer)["account_details"][0]["stream_detail"]
    assert not stream["config"].get("allow_direct")
    store = closing(NatsKeyValueStore([server.url], user=None, password=None))
    assert store.get("legacy", "kept", timeout=2.0) == b"\x00value"
    assert store.get("legacy", "gone", timeout=2.0) is None
    assert store.get("legacy", "never", timeout=2.0) is None
    assert store.keys("legacy", "", timeout=2.0) == ["kept"]


def test_reads_take_the_direct_path_and_fall_back_only_when_unsure(
    nats_server: ConnectInfo, closing: Closing, new_tenant: Callable[[], str], monkeypatch
) -> None:
    store = closing(store_for(nats_server))
    tenant = new_tenant()
    assert store.get(tenant, "missing", timeout=2.0) is None  # no bucket yet: the general path
    store.set(tenant, "key", b"value", timeout=2.0)
    store.delete(tenant, "gone", timeout=2.0)
    general = store._call
    used: list[str] = []
    monkeypatch.setattr(
        store,
        "_call",
        lambda operation, *rest: (used.append(operation), general(operation, *rest))[1],
    )
    assert store.get(tenant, "key", timeout=2.0) == b"value"
    assert store.get(tenant, "gone", timeout=2.0) is None
    assert store.get(tenant, "missing", timeout=2.0) is None
    assert used == []  # a value, a delete marker and a 404 are answered without nats-py
