"""How the job runner decides what to fetch and what to read, from the delivery's metadata."""

from __future__ import annotations

import pytest
from nats.aio.msg import Msg

from pyjinn.jobs.runner import MAX_BATCH, JobRunner, _first_delivery


def delivery(delivered: int, pending: int) -> Msg:
    """A JetStream delivery as the server addresses its acknowledgement."""
    reply = f"$JS.ACK.PYJINN_JOBS_acme.runner.{delivered}.10.9.1700000000000000000.{pending}"
    return Msg(_client=None, subject="pyjinn.jobs.acme.report", reply=reply, data=b"")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pending", "running", "expected"),
    [
        (0, 0, 1),  # nothing pending: a lingering pull for the next job
        (100, 0, 8),  # as many as there are free places
        (100, 6, 2),
        (3, 0, 3),  # no more than are pending
        (100, 8, 1),  # no free place: one, which waits for a place like before
    ],
)
def test_a_pull_that_finds_jobs_pending_fetches_as_many_as_there_are_free_places(
    pending: int, running: int, expected: int
) -> None:
    runner = JobRunner(queue=None, runtime=lambda: None, capacity=8)  # type: ignore[arg-type]
    runner._running = {object() for _ in range(running)}  # type: ignore[misc]  # running jobs
    assert runner._next_batch(delivery(1, pending)) == expected


def test_a_batch_is_never_larger_than_max_batch() -> None:
    runner = JobRunner(queue=None, runtime=lambda: None, capacity=1000)  # type: ignore[arg-type]
    assert runner._next_batch(delivery(1, 10_000)) == MAX_BATCH


def test_only_a_redelivery_reads_the_record_an_earlier_delivery_left() -> None:
    assert _first_delivery(delivery(1, 0))
    assert not _first_delivery(delivery(2, 0))
    # Not a JetStream delivery (no metadata to go by): read the record.
    assert not _first_delivery(Msg(_client=None, subject="x", reply="inbox", data=b""))  # type: ignore[arg-type]
