"""The job streams and records on one NATS server or cluster, used from one event loop.

Every operation is a JetStream request on one nats-py connection, which reconnects by itself
when the server restarts. Streams, consumers and the records bucket are created on first use,
with ``cluster_replicas`` copies; a stream that exists with other limits is updated to the
configured ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.kv import KeyValue

from pyjinn.config.model import JobOptions
from pyjinn.jobs import (
    CONSUMER,
    DEAD,
    QUEUED,
    RECORDS_BUCKET,
    JobMessage,
    JobRecord,
    dead_stream,
    dead_subject,
    jobs_stream,
    jobs_subject,
)
from pyjinn.services import NatsConnection

log = logging.getLogger("pyjinn.jobs")

# How long the server remembers a message id to drop a second publish of it (idempotency).
DEDUPE_WINDOW = 120.0
_REQUEST_TIMEOUT = 5.0
_MAX_QUEUE_ERROR = 10077  # JetStream: maximum messages exceeded
_STREAM_NAME_IN_USE = 10058
_JOB_ID = re.compile(r"[0-9a-fk][0-9a-f]{31}")


class QueueUnavailable(Exception):
    """NATS cannot be reached or refused the request: the job was not stored (503)."""


class QueueFull(Exception):
    """The tenant already has ``max_queued_jobs`` jobs waiting (429)."""


class JobQueue:
    """Jobs of every tenant: stored, looked up, moved to and from the dead letters."""

    def __init__(self, nats_server: NatsConnection, options: JobOptions, ack_wait: float) -> None:
        self.server = nats_server
        self.options = options
        self.ack_wait = ack_wait
        self.client = Client()
        self._js: JetStreamContext | None = None
        self._records: KeyValue | None = None
        self._tenants: set[str] = set()
        self._lock = asyncio.Lock()

    # -- connection -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect (bounded by a few seconds); raises QueueUnavailable."""
        try:
            # Reconnects are nats-py's, forever; the first connection is bounded here.
            await asyncio.wait_for(self._connect(), _REQUEST_TIMEOUT)
        except (nats.errors.Error, OSError, TimeoutError) as error:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 1.0)
            raise QueueUnavailable(f"cannot connect to NATS for jobs: {error!r}") from None
        self._js = self.client.jetstream(timeout=_REQUEST_TIMEOUT)

    async def _connect(self) -> None:
        await self.client.connect(
            servers=list(self.server.urls),
            user=self.server.user,
            password=self.server.password,
            name=f"pyjinn-jobs {os.getpid()}",
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            allow_reconnect=True,
            error_cb=_log_error,
        )

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise QueueUnavailable("the job queue is not connected")
        return self._js

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), 2.0)

    # -- layout ---------------------------------------------------------------------------------

    async def prepare(self, tenants: Iterable[str]) -> None:
        """Create (or update) the streams and consumer of ``tenants`` and the records bucket."""
        for tenant in tenants:
            await self.tenant(tenant)

    async def tenant(self, tenant: str) -> None:
        """Make sure ``tenant``'s streams and consumer exist (once per process)."""
        if tenant in self._tenants:
            return
        async with self._lock:
            if tenant in self._tenants:
                return
            await self._guarded(self._create_tenant(tenant))
            self._tenants.add(tenant)

    async def _create_tenant(self, tenant: str) -> None:
        options = self.options
        await self._stream(
            StreamConfig(
                name=jobs_stream(tenant),
                subjects=[jobs_subject(tenant)],
                retention=RetentionPolicy.WORK_QUEUE,
                max_msgs=options.max_queued,
                discard=DiscardPolicy.NEW,
                storage=StorageType.FILE,
                num_replicas=options.replicas,
                duplicate_window=DEDUPE_WINDOW,
            )
        )
        await self._stream(
            StreamConfig(
                name=dead_stream(tenant),
                subjects=[dead_subject(tenant)],
                retention=RetentionPolicy.LIMITS,
                max_age=options.retention,
                storage=StorageType.FILE,
                num_replicas=options.replicas,
            )
        )
        await self.js.add_consumer(
            jobs_stream(tenant),
            ConsumerConfig(
                durable_name=CONSUMER,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait,
                max_deliver=-1,
                max_ack_pending=10_000,
            ),
        )

    async def _stream(self, config: StreamConfig) -> None:
        try:
            await self.js.add_stream(config)
        except nats.js.errors.BadRequestError as error:
            if error.err_code != _STREAM_NAME_IN_USE:
                raise
            await self.js.update_stream(config)

    async def records(self) -> KeyValue:
        if self._records is None:
            async with self._lock:
                if self._records is None:
                    self._records = await self._guarded(self._open_records())
        return self._records

    async def _open_records(self) -> KeyValue:
        try:
            return await self.js.key_value(RECORDS_BUCKET)
        except nats.js.errors.BucketNotFoundError:
            return await self.js.create_key_value(
                KeyValueConfig(
                    bucket=RECORDS_BUCKET,
                    history=1,
                    ttl=self.options.retention,
                    replicas=self.options.replicas,
                )
            )

    # -- jobs -------------------------------------------------------------------------------

    async def enqueue(self, message: JobMessage) -> tuple[JobRecord, bool]:
        """Store a new job: its record first (so a fast worker never finds none), then the
        message. Returns (the record, True); for an id that exists already (an idempotency
        key used twice), (the existing record, False) and nothing is stored."""
        await self.tenant(message.tenant)
        records = await self.records()
        record = JobRecord(
            job_id=message.job_id,
            function=message.function,
            tenant=message.tenant,
            status=QUEUED,
            created=message.created,
        )
        key = message.job_id
        try:
            await self._guarded(records.create(key, record.to_json()))
        except nats.js.errors.KeyWrongLastSequenceError:
            existing = await self.record(message.job_id)
            if existing is not None:
                return existing, False
            raise QueueUnavailable("the job's record vanished while it was created") from None
        headers = {"Nats-Msg-Id": message.job_id}
        if message.traceparent:
            headers["traceparent"] = message.traceparent
        try:
            await self._guarded(
                self.js.publish(
                    jobs_subject(message.tenant, message.function),
                    message.encode(),
                    headers=headers,
                )
            )
        except BaseException as error:
            with contextlib.suppress(Exception):
                await records.delete(key)
            if _is_queue_full(error):
                raise QueueFull(
                    f"tenant {message.tenant!r} has {self.options.max_queued} jobs queued "
                    "(max_queued_jobs)"
                ) from None
            raise
        return record, True

    async def record(self, job_id: str) -> JobRecord | None:
        if not _JOB_ID.fullmatch(job_id):
            return None
        records = await self.records()
        try:
            entry = await self._guarded(records.get(job_id))
        except nats.js.errors.KeyNotFoundError:
            return None
        if entry.value is None:
            return None
        return JobRecord.from_json(entry.value)

    async def save(self, record: JobRecord) -> None:
        records = await self.records()
        await self._guarded(records.put(record.job_id, record.to_json()))

    async def bury(self, data: bytes, record: JobRecord) -> None:
        """Put a job that used up its attempts into the dead letters and record it dead."""
        await self.tenant(record.tenant)
        acknowledgement = await self._guarded(
            self.js.publish(
                dead_subject(record.tenant, record.function),
                data,
                headers={"Pyjinn-Error": (record.error or "")[:1000].replace("\n", " ")},
            )
        )
        record.status = DEAD
        record.dead_sequence = acknowledgement.seq
        await self.save(record)

    async def list_records(
        self,
        *,
        tenant: str | None = None,
        function: str | None = None,
        status: str | None = None,
        limit: int = 1000,
    ) -> list[JobRecord]:
        """The newest records first, filtered; at most ``limit``."""
        records = await self.records()
        keys = sorted(await self._guarded(self._record_ids()), reverse=True)  # newest first
        found: list[JobRecord] = []
        for key in keys:
            if len(found) >= limit:
                break
            try:
                entry = await self._guarded(records.get(key))
            except nats.js.errors.KeyNotFoundError:
                continue
            if entry.value is None:
                continue
            record = JobRecord.from_json(entry.value)
            if (
                (tenant is None or record.tenant == tenant)
                and (function is None or record.function == function)
                and (status is None or record.status == status)
            ):
                found.append(record)
        return found

    async def _record_ids(self) -> list[str]:
        """The id of every record, from the subjects of the records bucket's stream, asked of
        the server page by page. (nats-py's ``KeyValue.keys()`` watches a consumer and may
        answer "no keys" when the server delivered every key before the client checked.)"""
        await self.records()
        prefix = f"$KV.{RECORDS_BUCKET}."
        ids: list[str] = []
        while True:
            request = {"subjects_filter": f"{prefix}>", "offset": len(ids)}
            reply = await self.client.request(
                f"$JS.API.STREAM.INFO.KV_{RECORDS_BUCKET}",
                json.dumps(request).encode(),
                timeout=_REQUEST_TIMEOUT,
            )
            answer = json.loads(reply.data)
            if "error" in answer:
                error = answer["error"]
                raise QueueUnavailable(
                    f"NATS JetStream refused to list job records: {error.get('description')} "
                    f"(code {error.get('err_code')})"
                )
            subjects = (answer.get("state") or {}).get("subjects") or {}
            ids.extend(subject[len(prefix) :] for subject in subjects)
            if not subjects or len(ids) >= answer.get("total", 0):
                return ids

    async def retry(self, record: JobRecord) -> JobRecord:
        """Run a dead (or finished) job again, from its first attempt."""
        data = await self._dead_data(record) if record.status == DEAD else None
        if data is None:
            raise LookupError(
                f"job {record.job_id} is not in the dead letters; cannot run it again"
            )
        retried = JobRecord(
            job_id=record.job_id,
            function=record.function,
            tenant=record.tenant,
            status=QUEUED,
            created=record.created,
        )
        await self.save(retried)
        await self._guarded(
            self.js.publish(
                jobs_subject(record.tenant, record.function),
                data,
                headers={"Nats-Msg-Id": f"{record.job_id}-retry-{time.time_ns()}"},
            )
        )
        if record.dead_sequence is not None:
            with contextlib.suppress(Exception):
                await self.js.delete_msg(dead_stream(record.tenant), record.dead_sequence)
        return retried

    async def _dead_data(self, record: JobRecord) -> bytes | None:
        if record.dead_sequence is None:
            return None
        try:
            message = await self._guarded(
                self.js.get_msg(dead_stream(record.tenant), record.dead_sequence)
            )
        except nats.js.errors.NotFoundError:
            return None
        data: bytes = message.data
        return data

    async def purge_dead(self, tenant: str, function: str | None = None) -> int:
        """Drop ``tenant``'s dead letters (of ``function`` only, if given); returns how many."""
        await self.tenant(tenant)
        subject = dead_subject(tenant, function) if function is not None else None
        info = await self._guarded(self.js.stream_info(dead_stream(tenant)))
        before = info.state.messages
        await self._guarded(self.js.purge_stream(dead_stream(tenant), subject=subject))
        info = await self._guarded(self.js.stream_info(dead_stream(tenant)))
        for record in await self.list_records(tenant=tenant, function=function, status=DEAD):
            with contextlib.suppress(Exception):
                await (await self.records()).delete(record.job_id)
        return int(before - info.state.messages)

    async def depth(self, tenant: str) -> tuple[int, int]:
        """(jobs waiting or running, dead letters) of ``tenant``."""
        await self.tenant(tenant)
        queued = await self._guarded(self.js.stream_info(jobs_stream(tenant)))
        dead = await self._guarded(self.js.stream_info(dead_stream(tenant)))
        return int(queued.state.messages), int(dead.state.messages)

    async def _guarded(self, operation: Any) -> Any:
        """``await operation``, with NATS failures as QueueUnavailable."""
        try:
            return await operation
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyWrongLastSequenceError,
            nats.js.errors.NoKeysError,  # an empty bucket: list_records answers []
        ):
            raise
        except nats.js.errors.NotFoundError:
            raise
        except nats.js.errors.APIError as error:
            if _is_queue_full(error):
                raise
            raise QueueUnavailable(f"NATS refused a job request: {error}") from None
        except (nats.errors.Error, OSError, TimeoutError) as error:
            raise QueueUnavailable(f"NATS did not answer a job request: {error!r}") from None


def _is_queue_full(error: BaseException) -> bool:
    return isinstance(error, nats.js.errors.APIError) and error.err_code == _MAX_QUEUE_ERROR


async def _log_error(error: Exception) -> None:
    log.warning("The job queue's NATS connection reported: %s", error)
