"""One invocation of a function, from whatever trigger, from its start to its accounting.

Every trigger (an HTTP request, and the triggers built on the same path) turns its event into a
request envelope and the outcome into its own reply; everything between is here, once: the
span and trace id, the JSON envelope on stdin, a slot and a fresh sandbox (``Runtime.call``),
decoding the guest's answer, classifying failures and logging them with their blame, the
accounting every invocation leaves behind (metrics, span, access record; see
``pyjinn.observability.invocations``), and its crash record (``pyjinn.debug``): a failed
invocation, one sampled by ``record_sample``, or one whose request presented the function's debug
secret with ``X-Pyjinn-Record: 1`` is queued for writing once it has finished, and written off
the request path::

    invocation = Invocation(function, trigger="http", method="GET", target="/x")
    try:
        tenant = ...  # the trigger's own checks; they may raise InvocationError
    except InvocationError as error:
        outcome = invocation.refuse(error)
    else:
        outcome = await invocation.run(runtime, envelope, tenant)

``refuse`` and ``run`` each finish the invocation; exactly one of them is called.

**Rate limits.** ``admit`` takes the tenant's ``rate_limit`` token (``pyjinn.rate_limits``);
a trigger calls it as soon as it knows the tenant, before it reads anything more of its event
(the HTTP trigger: before the body), and ``run`` calls it for a trigger that did not. Only the
triggers in ``LIMITED_TRIGGERS`` are limited: HTTP requests and MCP tool calls, where a client
waits and can retry. A job is not (the request that enqueued it was, and a job's attempts are
already queued, paced by its workers); nor are cron ticks, MQTT messages and NATS messages,
which the operator configured and the broker paces (refusing them would lose events).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyjinn import contract
from pyjinn.debug.capture import CRASH, REQUESTED, SAMPLED, Capture
from pyjinn.debug.recorder import RECORDER
from pyjinn.engine.invoke import SNAPSHOT_ALWAYS
from pyjinn.errors import Blame, HostError, InvocationError
from pyjinn.observability import invocations, tracing
from pyjinn.tenants import CREDENTIAL_HEADERS

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Run
    from pyjinn.runtime import Function, Runtime
    from pyjinn.websocket import Connection

log = logging.getLogger("pyjinn.invocation")

# Triggers a rate_limit applies to: clients (an HTTP request, an MCP call, a WebSocket
# handshake), not the broker's deliveries (jobs, cron, MQTT, NATS), which wait rather than fail.
LIMITED_TRIGGERS = frozenset({"http", "mcp", "websocket"})

Headers = Sequence[tuple[bytes, bytes]]

# With the debug secret, asks for a record of the invocation whatever its outcome.
RECORD_HEADER = b"x-pyjinn-record"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a guest reads on stdin, apart from the trace id and tenant the invocation adds."""

    method: str
    uri: str
    path: str
    query_string: bytes = b""
    headers: Headers = ()
    body: bytes = b""
    remote_addr: str = ""
    job_id: str = ""  # set when the invocation runs a job
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class RawInput:
    """Gojinn's MCP tool contract: the guest reads ``stdin`` as it is (the tool's arguments) and
    whatever it writes to stdout is its answer, as a 200 response's body."""

    stdin: bytes


@dataclass(slots=True)
class Outcome:
    """How an invocation ended: the guest's response, or the error that replaced it; and the
    headers every answer carries (``Server-Timing``, the debug logs)."""

    trace_id: str
    response: contract.Response | None = None
    error: InvocationError | None = None
    run: Run | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def status(self) -> int:
        if self.error is not None:
            return self.error.status
        assert self.response is not None
        return self.response.status


class Invocation:
    """One invocation of ``function``, started now; ``target`` names it in access records."""

    __slots__ = ("admitted", "debug", "function", "limit_headers", "method", "record", "route",
                 "span", "started_ns", "target", "trace_id", "trigger")  # fmt: skip

    def __init__(
        self,
        function: Function,
        *,
        trigger: str,
        method: str,
        target: str,
        traceparent: str | None = None,
    ) -> None:
        self.started_ns = time.perf_counter_ns()
        self.function = function
        self.trigger = trigger
        self.method = method
        self.target = target
        # The header the answer carries the guest's logs in (debug secret), if any.
        self.debug: bytes | None = None
        self.record = False  # whether to record it whatever its outcome (the trigger's say)
        self.route: str | None = None  # how the function was chosen (routing by meaning)
        self.admitted = False  # whether admit() ran
        self.limit_headers: list[tuple[bytes, bytes]] = []  # RateLimit fields for the answer
        span, trace_id = (
            tracing.start_invocation(function.name, traceparent, method, target)
            if tracing.enabled
            else (None, None)
        )
        self.span: Any = span
        self.trace_id: str = trace_id or contract.trace_id_from(traceparent)

    def admit(self, tenant: str) -> None:
        """Take ``tenant``'s rate-limit token for this invocation (once; nothing to take for a
        function without ``rate_limit`` or a trigger that is not limited). Raises
        ``RequestRejected`` (429, with ``retry_after``) when the bucket is empty; either way the
        answer gets the RateLimit header fields."""
        if self.admitted:
            return
        self.admitted = True
        limiter = self.function.limiter
        if limiter is None or self.trigger not in LIMITED_TRIGGERS:
            return
        admission = limiter.admit(tenant)
        self.limit_headers = admission.headers
        if admission.refusal is not None:
            raise admission.refusal

    async def run(
        self,
        runtime: Runtime,
        envelope: Envelope | RawInput,
        tenant: str,
        *,
        pool_wait: float | None = None,
        connection: Connection | None = None,
    ) -> Outcome:
        """Run the function on ``envelope`` for ``tenant`` and finish the invocation; wait
        ``pool_wait`` seconds for a free slot (default: the function's ``pool_wait``).
        ``connection``: the request's WebSocket connection, which the guest may take over; if
        it does, the connection is its answer (a 101), and its stdout is not read."""
        function = self.function
        run: Run | None = None
        stdin = b""
        recording = self._recording(envelope)
        # A failure is a crash record, unless the request asked for a record whatever happened.
        failed = REQUESTED if recording == REQUESTED else CRASH
        try:
            if not self.admitted:
                self.admit(tenant)
            if isinstance(envelope, RawInput):
                stdin = envelope.stdin
            else:
                stdin = contract.encode_request(
                    method=envelope.method,
                    uri=envelope.uri,
                    path=envelope.path,
                    query_string=envelope.query_string,
                    headers=envelope.headers,
                    body=envelope.body,
                    remote_addr=envelope.remote_addr,
                    trace_id=self.trace_id,
                    tenant=tenant,
                    job_id=envelope.job_id,
                    attempt=envelope.attempt,
                )
            run = await runtime.call(
                function,
                stdin,
                tenant=tenant,
                trace_id=self.trace_id,
                span=self.span,
                pool_wait=pool_wait,
                snapshot=SNAPSHOT_ALWAYS if recording is not None else None,
                connection=connection,
            )
            if run.error is not None:
                raise run.error
            if connection is not None and connection.upgraded:
                response = contract.Response(101, [], b"")
            elif isinstance(envelope, RawInput):
                response = contract.Response(200, [], run.stdout)
            else:
                response = contract.decode_response(run.stdout)
        except InvocationError as error:
            outcome = self._failed(error, tenant, run)
            self._keep(outcome, failed, stdin, tenant, envelope)
            return outcome
        except Exception as error:  # our bug: fail this invocation, keep serving, say everything
            log.exception(
                "Internal error while running function %s.",
                function.name,
                extra={
                    "function": function.name,
                    "tenant": tenant,
                    "trace_id": self.trace_id,
                    "blame": "host",
                },
            )
            outcome = self._finish(HostError(repr(error)), tenant, run, None)
            self._keep(outcome, failed, stdin, tenant, envelope)
            return outcome
        outcome = self._finish(None, tenant, run, response)
        if recording is not None:
            self._keep(outcome, recording, stdin, tenant, envelope)
        return outcome

    def _recording(self, envelope: Envelope | RawInput) -> str | None:
        """Why this invocation is recorded whatever its outcome, if it is."""
        headers = envelope.headers if isinstance(envelope, Envelope) else ()
        if self.record or (
            self.debug
            and any(name == RECORD_HEADER and value.strip() == b"1" for name, value in headers)
        ):
            return REQUESTED
        sample = self.function.spec.crash_records.sample
        if sample and random.random() < sample:
            return SAMPLED
        return None

    def _keep(
        self, outcome: Outcome, kind: str, stdin: bytes, tenant: str, envelope: Envelope | RawInput
    ) -> None:
        """Queue the invocation's crash record (written off the request path), if it gets one:
        a run that failed with crash records on, or one recorded whatever its outcome."""
        run, error, function = outcome.run, outcome.error, self.function
        if run is None or not stdin:
            return  # the guest never ran: nothing to replay
        settings = function.spec.crash_records
        if kind == CRASH and (not settings.enabled or error is None or error.blame is Blame.CLIENT):
            return
        duration = (time.perf_counter_ns() - self.started_ns) / 1e9
        RECORDER.submit(
            Capture(
                kind=kind,
                spec=function.spec,
                digest=function.module.digest,
                module_bytes=function.module_bytes,
                run=run,
                stdin=stdin,
                argv=function.argv,
                error=error,
                status=outcome.status,
                trigger=self.trigger,
                method=self.method,
                target=self.target,
                trace_id=self.trace_id,
                tenant=tenant,
                started=time.time() - duration,
                duration=duration,
                credentials=[
                    ("HTTP_" + CREDENTIAL_HEADERS[name].upper().replace("-", "_"), value)
                    for name, value in (envelope.headers if isinstance(envelope, Envelope) else ())
                    if name in CREDENTIAL_HEADERS
                ],
            ),
            settings,
        )

    def traceparent(self) -> str:
        """A W3C ``traceparent`` naming this invocation, for work it hands on (a job), so the
        trace continues there: its span when it is recorded, else just its trace id."""
        if self.span is not None:
            context = self.span.get_span_context()
            return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
        return f"00-{self.trace_id}-{os.urandom(8).hex()}-00"

    def queued(self, tenant: str) -> list[tuple[bytes, bytes]]:
        """Finish an invocation handed to a job (answered 202); the headers of the answer."""
        headers = invocations.finish(
            self.function.metrics,
            method=self.method,
            path=self.target,
            tenant=tenant,
            trace_id=self.trace_id,
            status=202,
            error=None,
            run=None,
            started_ns=self.started_ns,
            span=self.span,
            outcome="queued",
        )
        return [*headers, *self.limit_headers]

    def refuse(self, error: InvocationError, tenant: str = "") -> Outcome:
        """Finish an invocation the trigger refused before the function ran."""
        return self._failed(error, tenant, None)

    def _failed(self, error: InvocationError, tenant: str, run: Run | None) -> Outcome:
        _log_failure(self.function.name, self.trace_id, tenant, error)
        return self._finish(error, tenant, run, None)

    def _finish(
        self,
        error: InvocationError | None,
        tenant: str,
        run: Run | None,
        response: contract.Response | None,
    ) -> Outcome:
        outcome = Outcome(self.trace_id, response, error, run)
        outcome.headers = invocations.finish(
            self.function.metrics,
            method=self.method,
            path=self.target,
            tenant=tenant,
            trace_id=self.trace_id,
            status=outcome.status,
            error=error,
            run=run,
            started_ns=self.started_ns,
            span=self.span,
            debug=self.debug,
            route=self.route,
        )
        if self.limit_headers:
            outcome.headers.extend(self.limit_headers)
        return outcome


def _log_failure(function: str, trace_id: str, tenant: str, error: InvocationError) -> None:
    context = {
        "function": function,
        "tenant": tenant,
        "trace_id": trace_id,
        "blame": error.blame.value,
        "kind": error.kind,
        "status": error.status,
    }
    if error.blame is Blame.HOST:
        log.error(
            "Function %s failed because of pyjinn: %s.", function, error.detail, extra=context
        )
    elif error.blame is Blame.GUEST:
        log.warning("Function %s failed: %s.", function, error.detail, extra=context)
    else:
        log.info("Request for function %s refused: %s.", function, error.detail, extra=context)
