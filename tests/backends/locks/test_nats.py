"""Locks on a real nats-server: contention across processes, TTL expiry, only the holder
releases, tenants apart, and a holder whose process dies frees the lock when its TTL runs out.

Another process is a real one (``python -c``) holding its own connection to the same server, as
a second worker or a second node sharing NATS would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest

from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.kv.nats import NatsKeyValueStore
from pyjinn.backends.locks import Release
from pyjinn.backends.locks.nats import NatsLockStore
from pyjinn.services.nats import ConnectInfo

pytestmark = pytest.mark.slow

TIMEOUT = 5.0


@pytest.fixture
def locks(nats_server: ConnectInfo) -> Iterator[NatsLockStore]:
    store = NatsKeyValueStore(
        [nats_server.url], user=nats_server.user, password=nats_server.password
    )
    yield NatsLockStore(store)
    store.close()


def fresh(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def token() -> str:
    return uuid.uuid4().hex


def test_a_held_lock_is_not_taken_by_another_token(locks: NatsLockStore) -> None:
    tenant, first, second = fresh(), token(), token()
    assert locks.acquire(tenant, "jobs/nightly", first, 30, timeout=TIMEOUT)
    assert not locks.acquire(tenant, "jobs/nightly", second, 30, timeout=TIMEOUT)
    assert locks.acquire(tenant, "jobs/nightly", first, 30, timeout=TIMEOUT)  # its own holder


def test_only_the_holder_releases_and_then_another_takes_it(locks: NatsLockStore) -> None:
    tenant, holder, other = fresh(), token(), token()
    assert locks.acquire(tenant, "report", holder, 30, timeout=TIMEOUT)
    assert locks.release(tenant, "report", other, timeout=TIMEOUT) is Release.OTHER_HOLDER
    assert not locks.acquire(tenant, "report", other, 30, timeout=TIMEOUT)  # still held
    assert locks.release(tenant, "report", holder, timeout=TIMEOUT) is Release.RELEASED
    assert locks.release(tenant, "report", holder, timeout=TIMEOUT) is Release.NOT_HELD
    assert locks.acquire(tenant, "report", other, 30, timeout=TIMEOUT)


def test_a_lock_frees_itself_when_its_ttl_runs_out(locks: NatsLockStore) -> None:
    tenant, holder, other = fresh(), token(), token()
    assert locks.acquire(tenant, "short", holder, 1, timeout=TIMEOUT)
    assert not locks.acquire(tenant, "short", other, 30, timeout=TIMEOUT)
    started = time.monotonic()
    while not locks.acquire(tenant, "short", other, 30, timeout=TIMEOUT):
        assert time.monotonic() - started < 10, "the lock outlived its 1 s TTL by far"
        time.sleep(0.05)
    assert time.monotonic() - started > 0.5  # it was held until its time ran out
    # The former holder cannot release what another now holds.
    assert locks.release(tenant, "short", holder, timeout=TIMEOUT) is Release.OTHER_HOLDER


def test_tenants_have_separate_locks(locks: NatsLockStore) -> None:
    name = "shared-name"
    assert locks.acquire(fresh("a"), name, token(), 30, timeout=TIMEOUT)
    assert locks.acquire(fresh("b"), name, token(), 30, timeout=TIMEOUT)


def test_a_closed_store_is_unavailable(nats_server: ConnectInfo) -> None:
    store = NatsKeyValueStore(
        [nats_server.url], user=nats_server.user, password=nats_server.password
    )
    store.close()
    with pytest.raises(StoreUnavailable):
        NatsLockStore(store).acquire(fresh(), "x", token(), 5, timeout=TIMEOUT)


HOLDER = textwrap.dedent(
    """
    import json, sys
    from pyjinn.backends.kv.nats import NatsKeyValueStore
    from pyjinn.backends.locks.nats import NatsLockStore

    url, user, password, tenant, name, token, ttl = sys.argv[1:]
    store = NatsKeyValueStore([url], user=user, password=password)
    locks = NatsLockStore(store)
    print(json.dumps(locks.acquire(tenant, name, token, int(ttl), timeout=5)), flush=True)
    for line in sys.stdin:  # "release": let go; anything else: try to take it again
        if line.strip() == "release":
            print(json.dumps(locks.release(tenant, name, token, timeout=5).value), flush=True)
        else:
            print(json.dumps(locks.acquire(tenant, name, token, int(ttl), timeout=5)), flush=True)
    store.close()
    """
)


class Holder:
    """Another process contending for a lock through its own connection to the server."""

    def __init__(self, server: ConnectInfo, tenant: str, name: str, ttl: int) -> None:
        self.token = token()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                HOLDER,
                server.url,
                server.user,
                server.password,
                tenant,
                name,
                self.token,
                str(ttl),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )

    def answer(self) -> object:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the holder process ended early"
        return json.loads(line)

    def send(self, line: str) -> object:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.answer()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def test_two_processes_contend_and_exactly_one_holds_the_lock(
    locks: NatsLockStore, nats_server: ConnectInfo
) -> None:
    tenant, name = fresh(), "invoices/close-month"
    holder = Holder(nats_server, tenant, name, 30)
    try:
        assert holder.answer() is True  # the other process took it
        mine = token()
        assert not locks.acquire(tenant, name, mine, 30, timeout=TIMEOUT)
        assert locks.release(tenant, name, mine, timeout=TIMEOUT) is Release.OTHER_HOLDER
        assert holder.send("release") == "released"
        assert locks.acquire(tenant, name, mine, 30, timeout=TIMEOUT)
        assert holder.send("acquire") is False  # now this process holds it
    finally:
        holder.stop()


def test_a_holder_killed_mid_hold_frees_the_lock_by_its_ttl(
    locks: NatsLockStore, nats_server: ConnectInfo
) -> None:
    tenant, name = fresh(), "cleanup"
    holder = Holder(nats_server, tenant, name, 2)
    try:
        assert holder.answer() is True
        holder.process.send_signal(signal.SIGKILL)
        holder.process.wait(timeout=10)
        mine = token()
        assert not locks.acquire(tenant, name, mine, 30, timeout=TIMEOUT)
        started = time.monotonic()
        while not locks.acquire(tenant, name, mine, 30, timeout=TIMEOUT):
            assert time.monotonic() - started < 15
            time.sleep(0.1)
    finally:
        holder.stop()
