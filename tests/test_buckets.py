"""The shared token buckets: burst and refill exactly as GCRA says, idle buckets reused so any
number of tenants fits in fixed memory, and one bucket counted by several processes at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from pyjinn.buckets import CAPACITY, PROBE, BucketTable


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_table() -> Callable[..., BucketTable]:
    tables: list[BucketTable] = []

    def make(capacity: int = CAPACITY, clock: Callable[[], float] = time.monotonic) -> BucketTable:
        table = BucketTable(capacity, clock=clock)
        tables.append(table)
        return table

    yield make
    for table in tables:
        table.close()


def test_a_new_bucket_admits_its_burst_at_once_then_refuses(make_table) -> None:
    table = make_table(clock=Clock())
    key = BucketTable.key("fn", "acme")
    decisions = [table.take(key, rate=10, burst=5) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    # The refusal says when one token is back: 1/10 s after the first was taken.
    assert decisions[-1].next_token == pytest.approx(0.1)


def test_the_bucket_refills_at_its_rate_and_never_beyond_its_burst(make_table) -> None:
    clock = Clock()
    table = make_table(clock=clock)
    key = BucketTable.key("fn", "acme")
    for _ in range(3):
        assert table.take(key, rate=2, burst=3).allowed
    assert not table.take(key, rate=2, burst=3).allowed
    clock.now += 0.5  # one token at 2 per second
    assert table.take(key, rate=2, burst=3).allowed
    assert not table.take(key, rate=2, burst=3).allowed
    clock.now += 3600  # idle for an hour: full, not 7200 tokens
    assert sum(table.take(key, rate=2, burst=3).allowed for _ in range(10)) == 3


def test_over_any_stretch_at_most_burst_plus_rate_times_its_length_are_admitted(
    make_table,
) -> None:
    clock = Clock()
    table = make_table(clock=clock)
    key = BucketTable.key("fn", "acme")
    admitted = 0
    for _ in range(1000):  # 1000 attempts, one every 10 ms: the last 9.99 s after the first
        admitted += table.take(key, rate=10, burst=10).allowed
        clock.now += 0.01
    assert admitted == 10 + int(10 * 9.99)  # the burst, then one per 100 ms


def test_buckets_of_other_keys_do_not_share_tokens(make_table) -> None:
    table = make_table(clock=Clock())
    first, second = BucketTable.key("fn", "acme"), BucketTable.key("fn", "globex")
    assert [table.take(first, rate=1, burst=1).allowed for _ in range(2)] == [True, False]
    assert table.take(second, rate=1, burst=1).allowed
    assert BucketTable.key("fn", "acme") != BucketTable.key("fn2", "acme")


def test_a_hundred_thousand_tenants_fit_in_the_same_memory_and_a_busy_bucket_survives_them(
    make_table,
) -> None:
    clock = Clock()
    table = make_table(clock=clock)
    size = table.size_bytes
    busy = BucketTable.key("fn", "busy")
    for _ in range(5):
        assert table.take(busy, rate=1, burst=5).allowed
    assert not table.take(busy, rate=1, burst=5).allowed
    # 100,000 tenants pass by, one request each; each bucket is full again a microsecond later.
    for tenant in range(100_000):
        assert table.take(BucketTable.key("fn", f"t{tenant}"), rate=1e6, burst=1).allowed
        clock.now += 1e-6
    assert table.size_bytes == size == (CAPACITY + PROBE) * 16
    # Only the busy bucket (and the last tenant's) still hold state; every other slot was free
    # to reuse, so the busy tenant was never forgotten: 0.1 s later it is still empty.
    assert table.occupied() <= 2
    assert not table.take(busy, rate=1, burst=5).allowed


def test_when_a_window_is_all_active_the_bucket_nearest_to_full_gives_way(make_table) -> None:
    clock = Clock()
    table = make_table(capacity=1, clock=clock)  # every key shares one window of PROBE slots
    keys = [BucketTable.key("fn", f"t{n}") for n in range(PROBE)]
    for index, key in enumerate(keys):
        for _ in range(index + 1):  # key n took n + 1 of its 10 tokens
            table.take(key, rate=1, burst=10)
    newcomer = BucketTable.key("fn", "newcomer")
    assert table.take(newcomer, rate=1, burst=10).allowed
    # keys[0] (one token taken: nearest to full) gave its slot; the others kept their state.
    assert table.take(keys[-1], rate=1, burst=10).remaining == 10 - PROBE - 1
    assert table.take(keys[0], rate=1, burst=10).remaining == 9  # starts over, full


def _hammer(table: BucketTable, key: int, attempts: int, results: multiprocessing.Queue) -> None:
    results.put(sum(table.take(key, rate=0.001, burst=50).allowed for _ in range(attempts)))


def test_processes_forked_after_the_table_was_made_count_against_the_same_bucket(
    make_table,
) -> None:
    table = make_table()
    key = BucketTable.key("fn", "acme")
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(table, key, 200, results)) for _ in range(3)]
    for worker in workers:
        worker.start()
    admitted = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    # 600 attempts against one bucket of 50 that refills once in 1000 s: exactly 50 admitted.
    assert sum(admitted) == 50, admitted


def test_a_process_killed_in_the_middle_of_a_check_does_not_block_the_others(make_table) -> None:
    ready_read, ready_write = os.pipe()

    def stuck_clock() -> float:  # called with the table locked
        os.write(ready_write, b"x")
        time.sleep(3600)
        return 0.0

    table = make_table(clock=stuck_clock)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child is killed
        try:
            table.take(1, rate=1, burst=1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_read, 1) == b"x"  # the child holds the lock now
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(ready_read)
        os.close(ready_write)
    table.clock = time.monotonic
    done = threading.Event()
    checker = threading.Thread(
        target=lambda: (table.take(1, rate=1, burst=1), done.set()), daemon=True
    )
    checker.start()
    assert done.wait(timeout=30), "the lock of the killed process was never released"
