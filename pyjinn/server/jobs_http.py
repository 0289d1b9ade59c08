"""Jobs over HTTP: a request answered ``202 Accepted`` and run as a job, and the job's status.

A request with ``X-Pyjinn-Async: true`` (or Gojinn's ``X-Gojinn-Async: true``), or any request
to a function configured ``async``, is stored as a job before it is answered::

    202 Accepted
    Location: /_pyjinn/jobs/<job_id>
    X-Gojinn-Job-ID: <job_id>
    {"job_id": "...", "status": "queued"}

An ``Idempotency-Key`` header makes the same key (for the same tenant and function) one job:
a second request gets the first one's id and status. ``GET /_pyjinn/jobs/<job_id>`` on the same
site answers the job's record to the tenant that created it, under the function's API key
rules, and 404 to anyone else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyjinn.errors import RequestRejected
from pyjinn.invocation import Envelope
from pyjinn.jobs.queue import QueueFull, QueueUnavailable
from pyjinn.server.asgi import Scope, header, send_json

if TYPE_CHECKING:
    from pyjinn.runtime import Function, Runtime

STATUS_PREFIX = "/_pyjinn/jobs/"
ASYNC_HEADERS = (b"x-pyjinn-async", b"x-gojinn-async")
IDEMPOTENCY_HEADER = b"idempotency-key"
MAX_IDEMPOTENCY_KEY = 256
_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class Answer:
    headers: list[tuple[bytes, bytes]]
    body: bytes


def asks_for_async(scope: Scope) -> bool:
    """Whether the request asks to be run as a job."""
    for name, value in scope["headers"]:
        if name in ASYNC_HEADERS and value.strip().lower() == b"true":
            return True
    return False


async def enqueue(
    runtime: Runtime,
    function: Function,
    scope: Scope,
    envelope: Envelope,
    tenant: str,
    traceparent: str,
) -> Answer:
    """Store the request as a job of ``function``; raises ``RequestRejected`` (429, 503)."""
    jobs = runtime.services.jobs
    if jobs is None or not jobs.ready:
        raise RequestRejected(
            503,
            "jobs_unavailable",
            "jobs are unavailable, retry shortly",
            "a request asked to run as a job, but this process has no job queue (NATS)",
            retry_after=5,
        )
    key = header(scope, IDEMPOTENCY_HEADER)
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise RequestRejected(
            400,
            "bad_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
            "an Idempotency-Key header of the wrong length",
        )
    try:
        record, _ = await jobs.enqueue(
            function.name, tenant, envelope, idempotency_key=key, traceparent=traceparent
        )
    except QueueFull as error:
        raise RequestRejected(
            429, "queue_full", "too many jobs queued, retry later", str(error), retry_after=5
        ) from None
    except QueueUnavailable as error:
        raise RequestRejected(
            503, "jobs_unavailable", "jobs are unavailable, retry shortly", str(error),
            retry_after=5,
        ) from None  # fmt: skip
    location = f"{scope.get('root_path', '')}{STATUS_PREFIX}{record.job_id}"
    return Answer(
        [
            _JSON,
            (b"location", location.encode()),
            (b"x-gojinn-job-id", record.job_id.encode()),
        ],
        json.dumps({"job_id": record.job_id, "status": record.status}).encode(),
    )


async def send_status(runtime: Runtime, scope: Scope, send: Any, path: str) -> None:
    """Answer ``GET /_pyjinn/jobs/<job_id>``: the record, to its tenant only."""
    job_id = path[len(STATUS_PREFIX) :]
    jobs = runtime.services.jobs
    if scope["method"] not in ("GET", "HEAD"):
        await send_json(send, 405, {"error": "job status is read with GET"})
        return
    if jobs is None or jobs.queue is None:
        await send_json(send, 503, {"error": "jobs are unavailable"})
        return
    try:
        record = await jobs.queue.record(job_id)
    except QueueUnavailable:
        await send_json(send, 503, {"error": "jobs are unavailable, retry shortly"})
        return
    function = runtime.functions.get(record.function) if record is not None else None
    if record is None or function is None:
        await send_json(send, 404, {"error": "no such job"})
        return
    tenant, _ = function.tenants.resolve(scope["headers"])
    if tenant != record.tenant:  # someone else's job, or no valid key: it does not exist
        await send_json(send, 404, {"error": "no such job"})
        return
    await send_json(send, 200, record.public())
