"""Guest threads: batched hand-over from the event loop, and slow work never holding others up."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pyjinn.handoff import GuestThreads

pytestmark = pytest.mark.anyio


@pytest.fixture
def threads():
    pool = GuestThreads(8, budget=0.02)
    yield pool
    pool.close(timeout=5)


async def test_results_and_errors_reach_their_callers(threads) -> None:
    def fail() -> None:
        raise ValueError("from the guest thread")

    results = await asyncio.gather(
        *(threads.run(lambda n=n: n * n) for n in range(20)),
        threads.run(fail),
        return_exceptions=True,
    )
    assert results[:20] == [n * n for n in range(20)]
    assert isinstance(results[20], ValueError)


async def test_work_never_runs_on_the_event_loop_thread(threads) -> None:
    loop_thread = threading.get_ident()
    seen = await asyncio.gather(*(threads.run(threading.get_ident) for _ in range(10)))
    assert loop_thread not in seen


async def test_calls_queued_in_one_loop_iteration_share_one_thread_round_trip(threads) -> None:
    seen = await asyncio.gather(*(threads.run(threading.get_ident) for _ in range(50)))
    assert len(set(seen)) == 1


async def test_a_slow_call_does_not_hold_up_calls_queued_behind_it(threads) -> None:
    release = threading.Event()
    slow = threads.run(release.wait, 10)
    fast = [threads.run(lambda n=n: n) for n in range(5)]
    assert await asyncio.gather(*fast) == list(range(5))
    assert not slow.done()
    release.set()
    assert await slow is True


async def test_the_event_loop_keeps_running_while_a_call_is_slow(threads) -> None:
    release = threading.Event()
    slow = threads.run(release.wait, 10)
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5 and not slow.done()
    release.set()
    await slow


async def test_more_slow_calls_than_threads_still_all_complete() -> None:
    pool = GuestThreads(2, budget=0.005)
    try:
        started = time.monotonic()
        results = await asyncio.gather(
            *(pool.run(lambda n=n: (time.sleep(0.05), n)[1]) for n in range(6))
        )
        assert results == list(range(6))
        assert time.monotonic() - started >= 0.1  # never more than two at a time
    finally:
        pool.close(timeout=5)


async def test_a_cancelled_caller_does_not_break_the_thread(threads) -> None:
    release = threading.Event()
    slow = threads.run(release.wait, 10)
    await asyncio.sleep(0.05)
    slow.cancel()
    release.set()
    assert await threads.run(lambda: "still working") == "still working"


def test_close_stops_every_thread() -> None:
    pool = GuestThreads(4)

    async def use() -> None:
        await asyncio.gather(*(pool.run(time.sleep, 0.01) for _ in range(4)))

    asyncio.run(use())
    names = {t.name for t in threading.enumerate() if t.name.startswith("pyjinn-guest")}
    assert names
    pool.close(timeout=5)
    assert not {t.name for t in threading.enumerate() if t.name.startswith("pyjinn-guest")} & names


async def test_a_burst_of_slow_calls_runs_side_by_side_not_one_per_budget(monkeypatch) -> None:
    pool = GuestThreads(64, budget=0.02)
    flushes = 0
    flush = pool._flush

    def counted(loop: asyncio.AbstractEventLoop) -> None:
        nonlocal flushes
        flushes += 1
        flush(loop)

    monkeypatch.setattr(pool, "_flush", counted)
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()

    def sleeper() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1

    try:
        calls = [pool.run(sleeper) for _ in range(40)]
        for _ in range(200):  # until every call has started, or 2 s
            await asyncio.sleep(0.01)
            if peak == 40:
                break
        assert peak == 40
        # One budget wait for the whole burst, not one per call.
        assert flushes == 1
        release.set()
        await asyncio.gather(*calls)
    finally:
        release.set()
        pool.close(timeout=5)
