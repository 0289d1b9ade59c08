"""What every finished invocation leaves behind, in one place.

:func:`finish` is called once per invocation, whatever its outcome (served, failed, refused).
It records the metrics, ends the invocation span, writes the access record, and returns the
headers the response gets: ``Server-Timing`` (time in wasm, in host calls, in total) and, for
a request that presented the function's debug secret, ``X-Pyjinn-Logs`` (``X-Gojinn-Logs`` when
it presented it in Gojinn's ``X-Gojinn-Debug``).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyjinn.errors import InvocationError
from pyjinn.observability import access_log as access_log_writer
from pyjinn.observability import guest_logs, tracing
from pyjinn.observability.metrics import FunctionMetrics

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Run

access_log = logging.getLogger("pyjinn.access")

# The headers a request may present the debug secret in, each with the header its logs come
# back in.
DEBUG_HEADERS = {b"x-pyjinn-debug": b"x-pyjinn-logs", b"x-gojinn-debug": b"x-gojinn-logs"}
MAX_LOGS_HEADER = 8192  # bytes; proxies commonly refuse larger headers
_LOG_CALLS = ("log", "host_log")


class DebugSecret:
    """A function's ``debug_secret``, and the check of a request against it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def __repr__(self) -> str:
        return "DebugSecret(...)"

    def check(
        self, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[bytes | None, Sequence[tuple[bytes, bytes]]]:
        """(the header the answer carries the guest's logs in, None unless the request
        presented the secret; the headers without any debug header).

        The guest never sees a debug header, right or wrong; comparing takes the same time
        whatever the presented value shares with the secret."""
        presented: list[tuple[bytes, bytes]] = []
        kept = []
        for header in headers:
            if header[0] in DEBUG_HEADERS:
                presented.append((header[0], header[1].strip()))
            else:
                kept.append(header)
        if not presented:
            return None, headers
        logs_header = None
        for name, value in presented:
            if hmac.compare_digest(value, self._secret):
                logs_header = DEBUG_HEADERS[name]
        return logs_header, kept


def finish(
    metrics: FunctionMetrics,
    *,
    method: str,
    path: str,
    tenant: str,
    trace_id: str,
    status: int,
    error: InvocationError | None,
    run: Run | None,
    started_ns: int,
    span: Any = None,
    debug: bytes | None = None,
    outcome: str | None = None,
    route: str | None = None,
) -> list[tuple[bytes, bytes]]:
    """Account for one finished invocation; returns the headers its response gets.
    ``outcome`` names an ending other than ok or an error (``queued``: handed to a job);
    ``route`` says how the function was chosen, when a router chose it (routing by meaning);
    ``debug`` the header the guest's logs go back in, for a request with the debug secret."""
    elapsed = (time.perf_counter_ns() - started_ns) / 1e9
    if outcome is None:
        outcome = "ok" if error is None else error.kind
    blame = None if error is None else error.blame.value
    fuel = run.fuel_consumed if run is not None else 0
    memory = run.memory_bytes if run is not None else 0
    metrics.count(outcome, tenant)
    metrics.duration.observe(elapsed)
    if run is not None:
        metrics.fuel.observe(fuel)
        metrics.memory.observe(memory)
    if span is not None:
        tracing.finish_invocation(
            span,
            outcome=outcome,
            blame=blame,
            status=status,
            tenant=tenant,
            fuel=fuel,
            memory=memory,
            detail=error.client_message if error is not None else None,
        )
    if access_log.isEnabledFor(logging.INFO):
        writer = access_log_writer.writer
        if writer is not None:  # pyjinn up: the fast, batched path
            writer.record(
                function=metrics.name,
                tenant=tenant,
                trace_id=trace_id,
                method=method,
                path=path,
                status=status,
                duration_ms=elapsed * 1000,
                outcome=outcome,
                blame=blame,
                fuel=fuel,
                memory=memory,
                route=route,
            )
        else:
            _log_access(metrics.name, method, path, tenant, trace_id, status, elapsed, outcome,
                        blame, fuel, memory, route)  # fmt: skip
    headers = [(b"server-timing", server_timing(run, elapsed))]
    if debug and run is not None:  # debug: the header the logs go back in
        headers.append((debug, logs_header(run)))
    return headers


def _log_access(
    function: str,
    method: str,
    path: str,
    tenant: str,
    trace_id: str,
    status: int,
    elapsed: float,
    outcome: str,
    blame: str | None,
    fuel: int,
    memory: int,
    route: str | None = None,
) -> None:
    extra: dict[str, Any] = {}
    if route is not None:
        extra["route"] = route
    access_log.info(
        "%s %s %d %.2fms",
        method,
        path,
        status,
        elapsed * 1000,
        extra={
            "function": function,
            "tenant": tenant,
            "trace_id": trace_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "outcome": outcome,
            "blame": blame,
            "fuel": fuel,
            "memory_bytes": memory,
            **extra,
        },
    )


def server_timing(run: Run | None, elapsed: float) -> bytes:
    """``Server-Timing``: milliseconds in wasm (instantiation and the guest, host calls
    excluded), in host calls, and in total (the body, the wait for a slot, everything)."""
    total = f"total;dur={elapsed * 1000:.3f}"
    if run is None:
        return total.encode()
    host = 0.0
    for call in run.host_calls:
        host += call.seconds
    wasm = max(0.0, (run.phases[1] + run.phases[2]) / 1e9 - host)
    return f"wasm;dur={wasm * 1000:.3f}, host;dur={host * 1000:.3f}, {total}".encode()


def logs_header(run: Run) -> bytes:
    """The guest's log lines as a JSON array of strings (ASCII only, so header-safe), at most
    ``MAX_LOGS_HEADER`` bytes."""
    calls: list[str] = []
    for call in run.host_calls:
        if call.call in _LOG_CALLS and call.capability == "core" and len(call.arguments) > 1:
            calls.append(_text(call.arguments[1]))
        elif call.capability == "ai" and call.arguments:
            # The model's prompts and answers are shown here, to a request that presented the
            # debug secret, and nowhere else.
            calls.append(f"{call.call} request: {_text(call.arguments[0])}")
            if isinstance(call.result, bytes):
                calls.append(f"{call.call} answer: {_text(call.result)}")
            elif call.error is not None:
                calls.append(f"{call.call} failed: {call.message}")
    lines = guest_logs.debug_lines(calls, run.stderr, MAX_LOGS_HEADER)
    return json.dumps(lines, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _text(message: Any) -> str:
    if isinstance(message, bytes):
        return message[: guest_logs.MAX_LINE].decode("utf-8", "replace")
    return str(message)[: guest_logs.MAX_LINE]
