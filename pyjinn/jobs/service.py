"""The jobs of one process: its queue connection and its runner, on the process's event loop.

Triggers on the loop (an async HTTP request) call :meth:`Jobs.enqueue`; guest threads (a
function enqueuing a job through the ABI) call :meth:`Jobs.enqueue_from_thread`, which hands
the work to the loop and waits within the call's budget.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyjinn.config.model import JobOptions
from pyjinn.invocation import Envelope
from pyjinn.jobs import JobMessage, JobRecord, new_job_id, tenants_of
from pyjinn.jobs.queue import JobQueue, QueueUnavailable
from pyjinn.jobs.runner import JobRunner, ack_wait_for
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.services import NatsConnection

if TYPE_CHECKING:
    from pyjinn.runtime import Runtime

log = logging.getLogger("pyjinn.jobs")

MAX_CAPACITY = 64  # jobs running at once in one process, over every function


class Jobs:
    """Enqueue jobs and run them, in one process."""

    def __init__(self, nats: NatsConnection, options: JobOptions) -> None:
        self._nats = nats
        self._options = options
        self.queue: JobQueue | None = None
        self.runner: JobRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def ready(self) -> bool:
        return self.queue is not None

    async def start(self, runtime: Callable[[], Runtime], *, run_jobs: bool = True) -> None:
        """Connect and, with ``run_jobs``, pull and run the jobs of every tenant of the current
        runtime. A NATS that cannot be reached leaves jobs unavailable (503), logged."""
        self._loop = asyncio.get_running_loop()
        current = runtime()
        queue = JobQueue(self._nats, self._options, ack_wait_for(current))
        try:
            await queue.connect()
            await queue.prepare(tenants_of(current.config))
            await queue.records()
        except QueueUnavailable as error:
            log.error("Jobs are unavailable: %s.", error)
            await queue.close()
            return
        self.queue = queue
        if run_jobs:
            # More places than slots would only make jobs wait for slots in this process,
            # ahead of other tenants' jobs: fairness is decided when a place is given.
            slots = sum(function.spec.pool_size for function in current.functions.values())
            capacity = max(1, min(MAX_CAPACITY, current.config.options.max_instances, slots))
            self.runner = JobRunner(queue, runtime, capacity)
            self.runner.follow(tenants_of(current.config))

    def reloaded(self, runtime: Runtime) -> None:
        """Follow the tenants a reloaded configuration brought (call on the loop)."""
        if self.runner is not None:
            self.runner.follow(tenants_of(runtime.config))

    async def stop(self, grace: float = 5.0) -> None:
        if self.runner is not None:
            await self.runner.stop(grace)
        if self.queue is not None:
            await self.queue.close()
        self.queue = self.runner = None

    async def enqueue(
        self,
        function: str,
        tenant: str,
        envelope: Envelope,
        *,
        idempotency_key: str | None = None,
        traceparent: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a job; (its record, whether it is new). Raises QueueUnavailable, QueueFull."""
        queue = self.queue
        if queue is None:
            raise QueueUnavailable("jobs are unavailable: NATS could not be reached at start-up")
        message = JobMessage(
            job_id=new_job_id(tenant, function, idempotency_key),
            function=function,
            tenant=tenant,
            created=time.time(),
            envelope=envelope,
            traceparent=traceparent,
        )
        record, created = await queue.enqueue(message)
        if created:
            METRICS.job_event(function, tenant, "queued")
        return record, created

    def enqueue_from_thread(
        self,
        function: str,
        tenant: str,
        envelope: Envelope,
        *,
        idempotency_key: str | None,
        traceparent: str | None,
        timeout: float,
    ) -> tuple[JobRecord, bool]:
        """``enqueue`` from a thread other than the loop's, waiting at most ``timeout``."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise QueueUnavailable("jobs are unavailable in this process")
        future = asyncio.run_coroutine_threadsafe(
            self.enqueue(
                function,
                tenant,
                envelope,
                idempotency_key=idempotency_key,
                traceparent=traceparent,
            ),
            loop,
        )
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise QueueUnavailable(f"NATS did not store the job within {timeout:g} s") from None
