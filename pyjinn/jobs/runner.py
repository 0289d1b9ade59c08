"""Running jobs: each worker process pulls jobs from every tenant's stream and runs them
through the one invocation pipeline.

Fairness: every tenant has a stream and consumer of its own, and a pull loop per process that
holds at most one fetched job waiting for a place to run. Places (``capacity`` per process) go
out first come, first served, so a tenant with a hundred thousand queued jobs has one job
waiting beside each other tenant's: another tenant's job starts as soon as one running job
finishes. A pull that finds more jobs pending fetches at once as many as there are free places
(at most ``MAX_BATCH``), in one request instead of one each.

Delivery is at least once. A job is acknowledged after its record says how it ended; a worker
that dies before that leaves it to be delivered again after the consumer's ack wait (longer
than any function's timeout; a running job also reports progress, so a long one is never
handed out twice). A delivery of a job whose record already says it ended (the worker died
between the two) is acknowledged without running it again. Failed attempts are delivered again
after ``retry_backoff`` (doubling); the last one goes to the dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import nats.errors
from nats.aio.msg import Msg

from pyjinn.invocation import Invocation
from pyjinn.jobs import (
    CONSUMER,
    FAILED,
    FINISHED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobMessage,
    JobRecord,
    jobs_stream,
    result_of,
)
from pyjinn.jobs.queue import JobQueue, QueueUnavailable
from pyjinn.observability.metrics import REGISTRY as METRICS

if TYPE_CHECKING:
    from pyjinn.runtime import Function, Runtime

log = logging.getLogger("pyjinn.jobs")

PULL_SECONDS = 5.0  # one pull request waits this long for a job before the next
MAX_BATCH = 64  # jobs fetched in one request when more are pending
_BATCH_WAIT = 0.01  # seconds a batch fetch waits if the pending jobs went to another worker
_RETRY_PULL = 1.0  # after NATS failed a pull


def ack_wait_for(runtime: Runtime) -> float:
    """How long a delivered job may go unacknowledged: longer than any function's timeout."""
    timeouts = [function.spec.limits.timeout for function in runtime.functions.values()]
    return max(timeouts, default=0.0) + 10.0


class JobRunner:
    """Pulls and runs jobs in this process, on its event loop."""

    def __init__(self, queue: JobQueue, runtime: Callable[[], Runtime], capacity: int) -> None:
        self.queue = queue
        self._runtime = runtime
        self._capacity = capacity
        self._places = asyncio.Semaphore(capacity)
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    def follow(self, tenants: set[str]) -> None:
        """Pull jobs of ``tenants`` too (after a reload brought new ones)."""
        for tenant in sorted(tenants - set(self._loops)):
            self._loops[tenant] = asyncio.get_running_loop().create_task(
                self._pull(tenant), name=f"pyjinn-jobs-{tenant}"
            )

    async def stop(self, grace: float) -> None:
        """Stop pulling; give running jobs ``grace`` seconds, then leave the rest to be
        delivered again."""
        self._stopping = True
        for task in self._loops.values():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._loops.values(), return_exceptions=True)
        if self._running:
            await asyncio.wait(self._running, timeout=grace)

    async def _pull(self, tenant: str) -> None:
        while not self._stopping:
            try:
                await self.queue.tenant(tenant)
                subscription = await self.queue.js.pull_subscribe_bind(
                    durable=CONSUMER, stream=jobs_stream(tenant)
                )
                batch = 1
                while not self._stopping:
                    try:
                        messages = await subscription.fetch(
                            batch, timeout=PULL_SECONDS if batch == 1 else _BATCH_WAIT
                        )
                    except (TimeoutError, nats.errors.TimeoutError):
                        batch = 1
                        continue
                    for message in messages:
                        await self._places.acquire()
                        task = asyncio.get_running_loop().create_task(self._handle(message))
                        self._running.add(task)
                        task.add_done_callback(self._finished)
                    batch = self._next_batch(messages[-1]) if messages else 1
            except asyncio.CancelledError:
                raise
            except Exception as error:  # NATS away, or restarting: try again shortly
                if not self._stopping:
                    log.warning("Cannot pull jobs of tenant %s: %s; retrying.", tenant, error)
                    await asyncio.sleep(_RETRY_PULL)

    def _next_batch(self, last: Msg) -> int:
        """How many jobs to fetch next: those pending after ``last``, as far as places are free;
        1 (a lingering pull for the next job) when none are."""
        try:
            pending = last.metadata.num_pending or 0
        except Exception:  # not a JetStream delivery: no count to go by
            return 1
        free = self._capacity - len(self._running)
        return max(1, min(pending, free, MAX_BATCH))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._places.release()

    async def _handle(self, message: Msg) -> None:
        try:
            job = JobMessage.decode(message.data)
        except (ValueError, KeyError, TypeError) as error:
            log.error("Dropping a message that is not a job: %s.", error)
            await _quietly(message.term())
            return
        try:
            await self._run(job, message)
        except QueueUnavailable as error:
            # The record or the acknowledgement could not be written: leave the job to be
            # delivered again rather than lose what happened.
            log.warning("Job %s: NATS failed (%s); it will be delivered again.", job.job_id, error)
        except Exception:
            log.exception("Internal error while running job %s.", job.job_id)
            await _quietly(message.nak(delay=5.0))

    async def _run(self, job: JobMessage, message: Msg) -> None:
        queue = self.queue
        # A first delivery's record is the one enqueueing (or retrying) wrote, which the message
        # says all of: only a later delivery needs to read what an earlier one left.
        record = None if _first_delivery(message) else await queue.record(job.job_id)
        if record is None:  # first delivered, its record expired, or enqueued by an older version
            record = JobRecord(job.job_id, job.function, job.tenant, QUEUED, job.created)
        if record.status in FINISHED:
            METRICS.job_event(job.function, job.tenant, "duplicate")
            await message.ack()
            return
        runtime = self._runtime()
        function = runtime.functions.get(job.function)
        if function is None:
            record.attempts += 1
            record.error = f"function {job.function!r} is not configured any more"
            await self._give_up(job, record, message)
            return
        now = time.time()
        METRICS.job_started(job.function, now - (record.next_attempt or record.created))
        METRICS.job_event(job.function, job.tenant, "started")
        record.status, record.started, record.next_attempt = RUNNING, now, None
        record.attempts += 1
        await queue.save(record)
        heartbeat = asyncio.get_running_loop().create_task(
            _report_progress(message, queue.ack_wait / 3)
        )
        running = METRICS.jobs_running
        running[job.function] = running.get(job.function, 0) + 1
        runtime.active += 1
        try:
            outcome = await self._invoke(runtime, function, job, record.attempts)
        finally:
            runtime.active -= 1
            running[job.function] -= 1
            heartbeat.cancel()
        record.finished = time.time()
        if outcome.error is None and outcome.status < 500:
            response = outcome.response
            assert response is not None
            record.status, record.error = SUCCEEDED, None
            record.result = result_of(response.status, response.headers, response.body)
            await queue.save(record)
            await message.ack()
            METRICS.job_event(job.function, job.tenant, SUCCEEDED)
            return
        record.error = (
            outcome.error.client_message
            if outcome.error is not None
            else f"the function answered status {outcome.status}"
        )
        settings = function.spec.jobs
        if record.attempts >= settings.max_attempts:
            await self._give_up(job, record, message)
            return
        delay = settings.delay_before(record.attempts + 1)
        record.status, record.next_attempt = FAILED, record.finished + delay
        await queue.save(record)
        await message.nak(delay=delay)
        METRICS.job_event(job.function, job.tenant, FAILED)

    async def _invoke(
        self, runtime: Runtime, function: Function, job: JobMessage, attempt: int
    ) -> Any:
        envelope = replace(job.envelope, job_id=job.job_id, attempt=attempt)
        invocation = Invocation(
            function,
            trigger="job",
            method=envelope.method,
            target=envelope.path,
            traceparent=job.traceparent,
        )
        # A job waits for a free slot as long as it takes: it is not a client that gives up.
        return await invocation.run(runtime, envelope, job.tenant, pool_wait=self.queue.ack_wait)

    async def _give_up(self, job: JobMessage, record: JobRecord, message: Msg) -> None:
        record.finished = time.time()
        log.warning(
            "Job %s of function %s is dead after %d attempt(s): %s.",
            job.job_id,
            job.function,
            record.attempts,
            record.error,
            extra={"function": job.function, "tenant": job.tenant, "job_id": job.job_id},
        )
        await self.queue.bury(message.data, record)
        await message.term()
        METRICS.job_event(job.function, job.tenant, "dead")


def _first_delivery(message: Msg) -> bool:
    try:
        return bool(message.metadata.num_delivered == 1)
    except Exception:  # not a JetStream delivery: read the record
        return False


async def _report_progress(message: Msg, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await _quietly(message.in_progress())


async def _quietly(operation: Any) -> None:
    with contextlib.suppress(Exception):
        await operation
