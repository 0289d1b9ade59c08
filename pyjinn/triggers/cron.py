"""The cron trigger: each tick of a schedule becomes one job, across every process and node.

Every worker process computes the ticks of every ``cron`` line and, at each one, enqueues a job
whose id derives from (tenant, function, schedule, tick): the job queue stores the first and
drops the others (the record is created only if none exists, and JetStream drops a second
message with the same id), so a tick runs once however many processes and nodes share the
NATS server, and a process that restarts or reloads in between changes nothing. The job then
runs like any other: retries, dead letters, records.

Ticks missed while pyjinn was down are skipped. With ``catch_up``, the last tick that fired is
kept in the KV bucket ``PYJINN-CRON``; at start-up, if ticks were missed since, one job runs
for them (the latest), and its envelope says how many it stands for.

What the guest reads: Gojinn's internal request (``method`` ``ASYNC``, ``uri``
``internal://async/job``, ``X-Source: internal``) with the header ``X-Pyjinn-Trigger: cron``
and a JSON body ``{"event_type": "cron", "schedule", "tick" (RFC 3339, UTC), "missed"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from pyjinn.config.model import CronTrigger
from pyjinn.invocation import Envelope
from pyjinn.jobs import internal_envelope
from pyjinn.jobs.queue import QueueFull, QueueUnavailable
from pyjinn.triggers.schedule import Schedule, parse_schedule

if TYPE_CHECKING:
    from pyjinn.jobs.service import Jobs
    from pyjinn.runtime import Runtime

log = logging.getLogger("pyjinn.triggers")

STATE_BUCKET = "PYJINN-CRON"
_MAX_MISSED_COUNTED = 100_000
_RETRY = 1.0  # seconds between attempts to store a tick's job while NATS is away
# What reading or writing the last tick may meet: NATS away, or a value that is not a time.
_UNREACHABLE = (nats.errors.Error, OSError, TimeoutError, QueueUnavailable, ValueError)


class CronScheduler:
    """The cron lines of the current configuration, ticking in this process."""

    def __init__(self, jobs: Jobs, runtime: Callable[[], Runtime]) -> None:
        self._jobs = jobs
        self._runtime = runtime
        self._tasks: dict[CronTrigger, asyncio.Task[None]] = {}
        self._state: KeyValue | None = None

    def update(self, triggers: tuple[CronTrigger, ...]) -> None:
        """Tick for ``triggers`` from now on: new lines start, removed ones stop, unchanged
        ones go on undisturbed (call on the loop)."""
        wanted = set(triggers)
        for trigger in [t for t in self._tasks if t not in wanted]:
            self._tasks.pop(trigger).cancel()
        for trigger in triggers:
            if trigger not in self._tasks:
                self._tasks[trigger] = asyncio.get_running_loop().create_task(
                    self._tick(trigger, parse_schedule(trigger.schedule)),
                    name=f"pyjinn-cron-{trigger.function}",
                )

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _tick(self, trigger: CronTrigger, schedule: Schedule) -> None:
        last = time.time()
        if trigger.catch_up:
            await self._catch_up(trigger, schedule, last)
        while True:
            tick = schedule.next_after(last)
            # Sleep until the tick by the wall clock (a loop timer may wake a little early).
            while (delay := tick - time.time()) > 0:
                await asyncio.sleep(delay)
            await self._fire(trigger, schedule, tick, missed=0)
            last = tick

    async def _catch_up(self, trigger: CronTrigger, schedule: Schedule, now: float) -> None:
        recorded = await self._recorded(trigger)
        if recorded is None:
            return  # never fired (or not since catch_up was set): nothing was missed
        count, latest = schedule.ticks_between(recorded, now, _MAX_MISSED_COUNTED)
        if count and latest is not None:
            log.info(
                "Function %s missed %s tick(s) of %r while pyjinn was down; running it once.",
                trigger.function,
                f"{count}+" if count >= _MAX_MISSED_COUNTED else count,
                trigger.schedule,
                extra={"function": trigger.function},
            )
            await self._fire(trigger, schedule, latest, missed=count)

    async def _fire(
        self, trigger: CronTrigger, schedule: Schedule, tick: float, missed: int
    ) -> None:
        """Enqueue the tick's job; keep trying while NATS is away, until the next tick."""
        give_up = schedule.next_after(tick)
        while True:
            function = self._runtime().functions.get(trigger.function)
            if function is None:
                return  # removed by a reload that has not cancelled this line yet
            tenant = function.spec.tenant
            try:
                record, created = await self._jobs.enqueue(
                    trigger.function,
                    tenant,
                    cron_envelope(trigger.schedule, tick, missed),
                    idempotency_key=tick_key(trigger, tick),
                )
            except (QueueUnavailable, QueueFull) as error:
                if time.time() + _RETRY >= give_up:
                    log.error(
                        "Tick %s of function %s was not run: %s.",
                        _rfc3339(tick),
                        trigger.function,
                        error,
                        extra={"function": trigger.function, "tenant": tenant},
                    )
                    return
                await asyncio.sleep(_RETRY)
                continue
            if created:
                log.debug("Tick %s of %s: job %s.", _rfc3339(tick), trigger.function, record.job_id)
                if trigger.catch_up:
                    await self._remember(trigger, tick)
            return

    # -- the last tick, for catch_up ------------------------------------------------------------

    async def _recorded(self, trigger: CronTrigger) -> float | None:
        try:
            state = await self._open_state()
            entry = await state.get(state_key(trigger))
        except nats.js.errors.KeyNotFoundError:
            return None
        except _UNREACHABLE as error:
            log.warning("Cannot read when %s last ticked: %s.", trigger.function, error)
            return None
        try:
            return float(entry.value or b"")
        except ValueError:
            return None

    async def _remember(self, trigger: CronTrigger, tick: float) -> None:
        """Record ``tick`` as the last one, unless a later one is recorded already."""
        key = state_key(trigger)
        for _ in range(3):
            try:
                state = await self._open_state()
                try:
                    entry = await state.get(key)
                except nats.js.errors.KeyNotFoundError:
                    await state.create(key, repr(tick).encode())
                    return
                if float(entry.value or b"0") >= tick:
                    return
                await state.update(key, repr(tick).encode(), last=entry.revision)
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # another process wrote meanwhile: look again
            except _UNREACHABLE as error:
                log.warning("Cannot record the last tick of %s: %s.", trigger.function, error)
                return

    async def _open_state(self) -> KeyValue:
        if self._state is None:
            queue = self._jobs.queue
            if queue is None:
                raise QueueUnavailable("jobs are unavailable")
            try:
                self._state = await queue.js.key_value(STATE_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._state = await queue.js.create_key_value(
                    KeyValueConfig(
                        bucket=STATE_BUCKET,
                        history=1,
                        storage=StorageType.FILE,
                        replicas=queue.options.replicas,
                    )
                )
        return self._state


def cron_envelope(schedule: str, tick: float, missed: int) -> Envelope:
    """The request a tick's job hands its guest."""
    body = {
        "event_type": "cron",
        "source": "pyjinn",
        "schedule": schedule,
        "tick": _rfc3339(tick),
        "missed": missed,
    }
    envelope = internal_envelope(json.dumps(body).encode())
    return replace(envelope, headers=(*envelope.headers, (b"x-pyjinn-trigger", b"cron")))


def tick_key(trigger: CronTrigger, tick: float) -> str:
    """The idempotency key of one tick of one cron line: the same in every process."""
    return f"cron\0{trigger.function}\0{trigger.schedule}\0{round(tick * 1000)}"


def state_key(trigger: CronTrigger) -> str:
    """Where the last tick of a catch_up line is recorded."""
    digest = hashlib.sha256(f"{trigger.function}\0{trigger.schedule}".encode()).hexdigest()
    return f"last.{digest[:32]}"


def _rfc3339(moment: float) -> str:
    stamp = datetime.datetime.fromtimestamp(moment, datetime.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
