"""Durable jobs on NATS JetStream: what a job is, and where it lives.

A job is one invocation of a function, run later, at least once. It is stored in the stream of
its tenant before anyone is told it exists, run by whichever worker process pulls it first,
retried with a growing delay when it fails, and moved to the tenant's dead-letter stream after
its last attempt. Its record (status, attempts, result) is kept in a KV bucket for
``job_retention``.

Layout on the server (tenant names are ``[a-z0-9_-]``, so they fit every NATS name):

- stream ``PYJINN_JOBS_<tenant>``, subjects ``pyjinn.jobs.<tenant>.<function>``: a work queue,
  one durable consumer (``runner``) shared by every worker process of every node;
- stream ``PYJINN_DEAD_<tenant>``, subjects ``pyjinn.dead.<tenant>.<function>``: dead letters;
- KV bucket ``PYJINN-JOBS``, key ``<job_id>``: job records, each naming its tenant. (Guest KV
  buckets are ``pyjinn_<tenant>``, lower case, so the two never meet.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pyjinn.config.model import Config
from pyjinn.invocation import Envelope

QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD = "queued", "running", "succeeded", "failed", "dead"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD)
FINISHED = (SUCCEEDED, DEAD)

RECORDS_BUCKET = "PYJINN-JOBS"
CONSUMER = "runner"
# Results larger than this are kept cut (the record says so): a KV value stays small.
MAX_RESULT_BODY = 256 * 1024
# What a job created inside a function (or by a trigger) looks like to the guest; Gojinn's
# modules expect this shape.
INTERNAL_METHOD = "ASYNC"
INTERNAL_URI = "internal://async/job"


def jobs_stream(tenant: str) -> str:
    return f"PYJINN_JOBS_{tenant}"


def dead_stream(tenant: str) -> str:
    return f"PYJINN_DEAD_{tenant}"


def subject_token(function: str) -> str:
    """A function name as one subject token: dots would split it."""
    return function.replace("%", "%25").replace(".", "%2E")


def jobs_subject(tenant: str, function: str = "*") -> str:
    token = function if function == "*" else subject_token(function)
    return f"pyjinn.jobs.{tenant}.{token}"


def dead_subject(tenant: str, function: str = "*") -> str:
    token = function if function == "*" else subject_token(function)
    return f"pyjinn.dead.{tenant}.{token}"


def tenants_of(config: Config) -> set[str]:
    """Every tenant a function of ``config`` may act for: the tenants with job streams."""
    tenants: set[str] = set()
    for spec in config.functions():
        tenants.add(spec.tenant)
        tenants.update(key.tenant for key in spec.api_keys)
    return tenants


def new_job_id(tenant: str, function: str, idempotency_key: str | None) -> str:
    """A unique id, ordered by creation time; with an idempotency key, the same id every time
    the same tenant enqueues the same key for the same function."""
    if idempotency_key is not None:
        digest = hashlib.sha256(f"{tenant}\0{function}\0{idempotency_key}".encode()).hexdigest()
        return "k" + digest[:31]
    with _ID_LOCK:
        global _last_id
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last_id
        if millis <= last_millis:  # the same millisecond (or the clock stepped back): count on
            millis, random = last_millis, last_random + 1
        else:
            random = int.from_bytes(os.urandom(10), "big") >> 1  # room to count on
        _last_id = (millis, random)
    return f"{millis:012x}{random:020x}"


# The last id made here: ids a process makes are strictly increasing, even within a
# millisecond (ids of different processes order by millisecond only).
_ID_LOCK = threading.Lock()
_last_id = (0, 0)


def internal_envelope(payload: bytes) -> Envelope:
    """The request a job created from a payload (not from an HTTP request) hands its guest."""
    return Envelope(
        method=INTERNAL_METHOD,
        uri=INTERNAL_URI,
        path="/",
        headers=((b"x-source", b"internal"),),
        body=payload,
    )


@dataclass(frozen=True)
class JobMessage:
    """What the jobs stream holds for one job: who, what, and the request to run."""

    job_id: str
    function: str
    tenant: str
    created: float
    envelope: Envelope
    traceparent: str | None = None

    def encode(self) -> bytes:
        envelope = self.envelope
        return json.dumps(
            {
                "job_id": self.job_id,
                "function": self.function,
                "tenant": self.tenant,
                "created": self.created,
                "traceparent": self.traceparent,
                "envelope": {
                    "method": envelope.method,
                    "uri": envelope.uri,
                    "path": envelope.path,
                    "query": _b64(envelope.query_string),
                    "headers": [[_b64(name), _b64(value)] for name, value in envelope.headers],
                    "body": _b64(envelope.body),
                    "remote_addr": envelope.remote_addr,
                },
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, data: bytes) -> JobMessage:
        """Raises ValueError (or KeyError, TypeError) for anything that is not a job."""
        document = json.loads(data)
        raw = document["envelope"]
        envelope = Envelope(
            method=str(raw["method"]),
            uri=str(raw["uri"]),
            path=str(raw["path"]),
            query_string=_unb64(raw["query"]),
            headers=tuple((_unb64(name), _unb64(value)) for name, value in raw["headers"]),
            body=_unb64(raw["body"]),
            remote_addr=str(raw["remote_addr"]),
        )
        return cls(
            job_id=str(document["job_id"]),
            function=str(document["function"]),
            tenant=str(document["tenant"]),
            created=float(document["created"]),
            envelope=envelope,
            traceparent=document.get("traceparent"),
        )


@dataclass
class JobRecord:
    """A job's status as ``GET /_pyjinn/jobs/<id>`` shows it (times are Unix seconds)."""

    job_id: str
    function: str
    tenant: str
    status: str
    created: float
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    next_attempt: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    dead_sequence: int | None = field(default=None, repr=False)  # where it lies, once dead

    def to_json(self) -> bytes:
        return json.dumps(self.public() | {"dead_sequence": self.dead_sequence}).encode()

    def public(self) -> dict[str, Any]:
        """The record without internal fields and without empty ones."""
        document = asdict(self)
        document.pop("dead_sequence")
        return {key: value for key, value in document.items() if value is not None}

    @classmethod
    def from_json(cls, data: bytes) -> JobRecord:
        return cls(**json.loads(data))


def result_of(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> dict[str, Any]:
    """A guest's response as a job result: headers grouped, the body text or base64, cut at
    ``MAX_RESULT_BODY`` bytes (``truncated`` says so)."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    result: dict[str, Any] = {"status": status, "headers": grouped}
    kept = body[:MAX_RESULT_BODY]
    try:
        result["body"] = kept.decode("utf-8")
    except UnicodeDecodeError:
        result["body"] = base64.b64encode(kept).decode("ascii")
        result["body_encoding"] = "base64"
    if len(body) > MAX_RESULT_BODY:
        result["truncated"] = True
    return result


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    return base64.b64decode(text, validate=True)
