"""One invocation of a function, from whatever trigger, from its start to its accounting.

Every trigger (an HTTP request, and the triggers built on the same path) turns its event into a
request envelope and the outcome into its own reply; everything between is here, once: the
span and trace id, the JSON envelope on stdin, a slot and a fresh sandbox (``Runtime.call``),
decoding the guest's answer, classifying failures and logging them with their blame, and the
accounting every invocation leaves behind (metrics, span, access record; see
``pyjinn.observability.invocations``)::

    invocation = Invocation(function, trigger="http", method="GET", target="/x")
    try:
        tenant = ...  # the trigger's own checks; they may raise InvocationError
    except InvocationError as error:
        outcome = invocation.refuse(error)
    else:
        outcome = await invocation.run(runtime, envelope, tenant)

``refuse`` and ``run`` each finish the invocation; exactly one of them is called.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyjinn import contract
from pyjinn.errors import Blame, HostError, InvocationError
from pyjinn.observability import invocations, tracing

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Run
    from pyjinn.runtime import Function, Runtime

log = logging.getLogger("pyjinn.invocation")

Headers = Sequence[tuple[bytes, bytes]]


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

    __slots__ = ("debug", "function", "method", "span", "started_ns", "target", "trace_id",
                 "trigger")  # fmt: skip

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
        span, trace_id = (
            tracing.start_invocation(function.name, traceparent, method, target)
            if tracing.enabled
            else (None, None)
        )
        self.span: Any = span
        self.trace_id: str = trace_id or contract.trace_id_from(traceparent)

    async def run(
        self, runtime: Runtime, envelope: Envelope, tenant: str, *, pool_wait: float | None = None
    ) -> Outcome:
        """Run the function on ``envelope`` for ``tenant`` and finish the invocation; wait
        ``pool_wait`` seconds for a free slot (default: the function's ``pool_wait``)."""
        function = self.function
        run: Run | None = None
        try:
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
            )
            if run.error is not None:
                raise run.error
            response = contract.decode_response(run.stdout)
        except InvocationError as error:
            return self._failed(error, tenant, run)
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
            return self._finish(HostError(repr(error)), tenant, run, None)
        return self._finish(None, tenant, run, response)

    def traceparent(self) -> str:
        """A W3C ``traceparent`` naming this invocation, for work it hands on (a job), so the
        trace continues there: its span when it is recorded, else just its trace id."""
        if self.span is not None:
            context = self.span.get_span_context()
            return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"
        return f"00-{self.trace_id}-{os.urandom(8).hex()}-00"

    def queued(self, tenant: str) -> list[tuple[bytes, bytes]]:
        """Finish an invocation handed to a job (answered 202); the headers of the answer."""
        return invocations.finish(
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
        )
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
