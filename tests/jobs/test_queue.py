"""The job queue on a real nats-server: streams per tenant, records, dead letters, limits."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest

from pyjinn.config.model import JobOptions
from pyjinn.jobs import DEAD, QUEUED, JobMessage, JobRecord, internal_envelope, new_job_id
from pyjinn.jobs.queue import JobQueue, QueueFull, QueueUnavailable
from pyjinn.services import NatsConnection

pytestmark = pytest.mark.anyio


@pytest.fixture
async def queue(nats_connection: NatsConnection) -> AsyncIterator[JobQueue]:
    queue = JobQueue(nats_connection, JobOptions(max_queued=3), ack_wait=10.0)
    await queue.connect()
    yield queue
    await queue.close()


def tenant() -> str:
    return f"t{os.urandom(5).hex()}"


def message(owner: str, key: str | None = None, function: str = "report") -> JobMessage:
    return JobMessage(
        new_job_id(owner, function, key), function, owner, time.time(), internal_envelope(b"x")
    )


async def test_a_job_is_stored_with_a_queued_record(queue: JobQueue) -> None:
    owner = tenant()
    record, created = await queue.enqueue(message(owner))
    assert created and record.status == QUEUED
    assert await queue.record(record.job_id) == record
    queued, dead = await queue.depth(owner)
    assert (queued, dead) == (1, 0)


async def test_the_same_idempotency_key_is_one_job(queue: JobQueue) -> None:
    owner = tenant()
    first, created = await queue.enqueue(message(owner, "order-7"))
    again, created_again = await queue.enqueue(message(owner, "order-7"))
    assert created and not created_again
    assert again.job_id == first.job_id
    assert (await queue.depth(owner))[0] == 1


async def test_a_tenant_over_max_queued_jobs_is_refused_and_nothing_is_left_behind(
    queue: JobQueue,
) -> None:
    owner = tenant()
    for _ in range(3):
        await queue.enqueue(message(owner))
    refused = message(owner)
    with pytest.raises(QueueFull, match="max_queued_jobs"):
        await queue.enqueue(refused)
    assert await queue.record(refused.job_id) is None  # its record was withdrawn
    assert (await queue.depth(tenant()))[0] == 0  # another tenant is not affected


async def test_a_buried_job_can_be_retried_and_purged(queue: JobQueue) -> None:
    owner = tenant()
    stored = message(owner)
    record, _ = await queue.enqueue(stored)
    record.attempts, record.error = 5, "function crashed"
    await queue.bury(stored.encode(), record)
    assert (await queue.record(record.job_id)).status == DEAD
    assert (await queue.depth(owner))[1] == 1
    retried = await queue.retry(await queue.record(record.job_id))
    assert (retried.status, retried.attempts) == (QUEUED, 0)
    assert (await queue.depth(owner)) == (2, 0)  # the original, and the retried copy
    again = message(owner)
    record_again, _ = await queue.enqueue(again)
    record_again.error = "gone"
    await queue.bury(again.encode(), record_again)
    assert await queue.purge_dead(owner) == 1
    assert await queue.record(record_again.job_id) is None


async def test_only_dead_jobs_can_be_retried(queue: JobQueue) -> None:
    record, _ = await queue.enqueue(message(tenant()))
    with pytest.raises(LookupError, match="not in the dead letters"):
        await queue.retry(record)


async def test_unknown_or_malformed_ids_have_no_record(queue: JobQueue) -> None:
    assert await queue.record("0" * 32) is None
    assert await queue.record("../../etc") is None
    assert await queue.record("") is None


async def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    queue = JobQueue(NatsConnection(("nats://127.0.0.1:1",)), JobOptions(), ack_wait=10.0)
    with pytest.raises(QueueUnavailable, match="cannot connect"):
        await queue.connect()
    await queue.close()


async def test_records_are_listed_newest_first_and_filtered(queue: JobQueue) -> None:
    owner = tenant()
    made = [(await queue.enqueue(message(owner, function=f"f{i % 2}")))[0] for i in range(3)]
    listed = await queue.list_records(tenant=owner)
    assert [record.job_id for record in listed] == [record.job_id for record in reversed(made)]
    only = await queue.list_records(tenant=owner, function="f1")
    assert [record.job_id for record in only] == [made[1].job_id]
    assert isinstance(listed[0], JobRecord)


async def test_a_record_written_while_the_records_are_listed_is_listed_once(
    queue: JobQueue,
) -> None:
    owner = tenant()
    records = [
        JobRecord(new_job_id(owner, "busy", None), "busy", owner, QUEUED, time.time())
        for _ in range(30)
    ]
    for record in records:
        await queue.save(record)
    writing = True

    async def keep_writing() -> None:
        while writing:
            for record in records:
                await queue.save(record)

    writer = asyncio.get_running_loop().create_task(keep_writing())
    try:
        for _ in range(40):
            listed = [r.job_id for r in await queue.list_records(tenant=owner, function="busy")]
            # (A record rewritten at that moment may be missing from one listing: JetStream
            # removes its old entry before the watcher reaches it.)
            assert len(listed) == len(set(listed))
    finally:
        writing = False
        await writer
