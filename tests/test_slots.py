"""Bounded concurrency per function: slots, a first-come-first-served wait, and its deadline."""

from __future__ import annotations

import asyncio

import pytest

from pyjinn.errors import Blame, RequestRejected
from pyjinn.slots import Slots

pytestmark = pytest.mark.anyio

LONG = 5.0  # a wait no test reaches: a waiter that gets a slot gets it by hand-over


async def settle() -> None:
    """Let every task that is ready run until it blocks again."""
    for _ in range(5):
        await asyncio.sleep(0)


async def queued(slots: Slots, wait: float = LONG) -> asyncio.Task[None]:
    """A task waiting for a slot, already in the queue when this returns."""
    waiters_before = len(slots._waiters)
    task = asyncio.create_task(slots.acquire(wait))
    await settle()
    assert not task.done()
    assert len(slots._waiters) == waiters_before + 1
    return task


async def test_up_to_size_holders_acquire_at_once() -> None:
    slots = Slots(3, "fn")
    for _ in range(3):
        await slots.acquire(LONG)
    assert slots.in_use == 3
    assert len(slots._waiters) == 0


async def test_a_holder_past_size_waits_until_a_slot_is_released() -> None:
    slots = Slots(2, "fn")
    await slots.acquire(LONG)
    await slots.acquire(LONG)
    waiter = await queued(slots)
    slots.release()
    await settle()
    assert waiter.done() and waiter.exception() is None
    assert slots.in_use == 2  # the slot passed over; it was never free
    assert len(slots._waiters) == 0


async def test_released_slots_go_to_waiters_first_come_first_served() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    order: list[str] = []

    async def wait_then_record(name: str) -> None:
        await slots.acquire(LONG)
        order.append(name)

    tasks = []
    for name in ("first", "second", "third"):
        tasks.append(asyncio.create_task(wait_then_record(name)))
        await settle()
    for expected in (["first"], ["first", "second"], ["first", "second", "third"]):
        slots.release()
        await settle()
        assert order == expected
    await asyncio.gather(*tasks)
    assert slots.in_use == 1


async def test_a_newcomer_does_not_overtake_queued_waiters() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    waiter = await queued(slots)
    slots.release()  # handed to the waiter, not left free for the newcomer
    newcomer = asyncio.create_task(slots.acquire(LONG))
    await settle()
    assert waiter.done()
    assert not newcomer.done()
    slots.release()
    await settle()
    assert newcomer.done()
    assert slots.in_use == 1


async def test_a_waiter_past_its_deadline_is_rejected_with_503_and_retry_after() -> None:
    slots = Slots(2, "greeter")
    await slots.acquire(LONG)
    await slots.acquire(LONG)
    with pytest.raises(RequestRejected) as raised:
        await slots.acquire(0.01)
    error = raised.value
    assert error.status == 503
    assert error.kind == "overloaded"
    assert error.retry_after == 1
    assert error.blame is Blame.CLIENT
    assert error.client_message == "function is busy, retry shortly"
    assert "'greeter'" in error.detail
    assert "all 2 slots" in error.detail
    assert "0.01s" in error.detail
    assert slots.in_use == 2


async def test_an_expired_waiter_leaves_the_queue_and_does_not_block_later_acquirers() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    with pytest.raises(RequestRejected):
        await slots.acquire(0.01)
    assert len(slots._waiters) == 0  # a stale waiter would force everyone after it to queue
    slots.release()
    assert slots.in_use == 0
    await asyncio.wait_for(slots.acquire(0.01), 1)  # the fast path, not a hand-over to the dead
    assert slots.in_use == 1


async def test_a_release_skips_an_expired_waiter_and_hands_over_to_the_next() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    short = await queued(slots, 0.01)
    patient = await queued(slots)
    with pytest.raises(RequestRejected):
        await short
    slots.release()
    await settle()
    assert patient.done() and patient.exception() is None
    assert slots.in_use == 1


async def test_a_cancelled_waiter_does_not_take_or_leak_a_slot() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    waiter = await queued(slots)
    waiter.cancel()
    await settle()
    assert waiter.cancelled()
    assert len(slots._waiters) == 0
    slots.release()
    assert slots.in_use == 0
    await asyncio.wait_for(slots.acquire(0.01), 1)
    assert slots.in_use == 1


async def test_a_waiter_cancelled_just_after_a_hand_over_gives_the_slot_back() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    waiter = await queued(slots)
    slots.release()  # hands the slot over; the waiter has not run yet
    waiter.cancel()  # ...and is cancelled before it could
    await settle()
    assert waiter.cancelled()
    assert slots.in_use == 0
    await asyncio.wait_for(slots.acquire(0.01), 1)
    assert slots.in_use == 1


async def test_a_slot_handed_to_a_cancelled_waiter_passes_on_to_the_next_waiter() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    first = await queued(slots)
    second = await queued(slots)
    slots.release()
    first.cancel()
    await settle()
    assert first.cancelled()
    assert second.done() and second.exception() is None
    assert slots.in_use == 1
    assert len(slots._waiters) == 0


async def test_a_slot_released_before_a_cancelled_waiter_runs_is_free_for_the_next() -> None:
    # Cancelling marks the waiter's future at once, but its task only leaves the queue when it
    # next runs; a release in between must skip it rather than hand it the slot.
    slots = Slots(2, "fn")
    await slots.acquire(LONG)
    await slots.acquire(LONG)
    waiter = await queued(slots)
    waiter.cancel()
    slots.release()
    assert slots.in_use == 1
    assert len(slots._waiters) == 0
    await asyncio.wait_for(slots.acquire(0.05), 1)
    assert slots.in_use == 2
    await settle()
    assert waiter.cancelled()
    assert slots.in_use == 2


async def test_a_slot_released_before_an_expired_waiter_runs_is_free_for_the_next() -> None:
    slots = Slots(1, "fn")
    await slots.acquire(LONG)
    waiter = await queued(slots, 0.01)
    seen: list[tuple[bool, int, int]] = []

    def release_between_expiry_and_wakeup() -> None:
        # Due right after the waiter's deadline: runs after it expired, before its task resumes.
        slots.release()
        seen.append((waiter.done(), slots.in_use, len(slots._waiters)))

    asyncio.get_running_loop().call_later(0.01, release_between_expiry_and_wakeup)
    with pytest.raises(RequestRejected):
        await waiter
    assert seen == [(False, 0, 0)]
    await asyncio.wait_for(slots.acquire(0.05), 1)
    assert slots.in_use == 1


async def test_peak_records_the_most_slots_held_at_once() -> None:
    slots = Slots(3, "fn")
    assert slots.peak == 0
    await slots.acquire(LONG)
    await slots.acquire(LONG)
    assert slots.peak == 2
    slots.release()
    slots.release()
    await slots.acquire(LONG)
    assert slots.in_use == 1
    assert slots.peak == 2
    for _ in range(2):
        await slots.acquire(LONG)
    assert slots.peak == 3
    waiter = await queued(slots)
    slots.release()  # a hand-over keeps in_use, so it cannot raise the peak past size
    await settle()
    assert waiter.done()
    assert slots.in_use == 3
    assert slots.peak == 3


async def test_many_concurrent_holders_never_exceed_size() -> None:
    slots = Slots(3, "fn")
    held = 0
    most = 0

    async def work() -> None:
        nonlocal held, most
        await slots.acquire(LONG)
        try:
            held += 1
            most = max(most, held)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            held -= 1
        finally:
            slots.release()

    await asyncio.gather(*(work() for _ in range(50)))
    assert most == 3
    assert slots.peak == 3
    assert slots.in_use == 0
    assert len(slots._waiters) == 0
