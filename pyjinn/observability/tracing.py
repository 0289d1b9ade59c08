"""OpenTelemetry traces: a span per invocation, under the caller's ``traceparent``, and a child
span per host call.

Off unless configured, and then free: ``enabled`` is the one flag the request path checks, and
no tracer provider, span or exporter exists. Configured (:func:`configure`), spans are batched
on a background thread; nothing on the request path waits for the network. Under ``pyjinn up``
a worker records its spans without the SDK and hands them to the admin process, which builds
SDK spans and exports them over OTLP/HTTP (``pyjinn.observability.span_relay``: making and
encoding SDK spans is the costly part, and a worker's threads share the interpreter lock with
its event loop); elsewhere each process has an SDK tracer provider that exports them itself.

Sampling is decided before any SDK object is made: a request whose ``traceparent`` says sampled
is recorded, one that says not sampled is not, and a new trace is recorded with the configured
ratio. An unrecorded request costs a random number, not a span. The trace id the guest receives
is always the trace id of its invocation span (or of the caller's trace when it is not recorded).

In an embedding application that has set an SDK tracer provider of its own, pyjinn uses that
provider and its sampler (unless ``tracing`` says otherwise), and the invocation span becomes a
child of the application's current span when there is one.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyjinn.config.model import Tracing

log = logging.getLogger("pyjinn.tracing")

# The one flag the request path checks.
enabled = False

_tracer: Any = None  # opentelemetry.trace.Tracer
_provider: Any = None  # the SDK TracerProvider pyjinn made, which it shuts down
_recorder: Any = None  # span_relay.Recorder: spans made here, exported by the admin process
_ratio = 1.0
_sample_here = True  # False: the provider's sampler decides (an embedding app's provider)
_local = threading.local()

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
DEFAULT_ENDPOINT = "http://localhost:4318"
TRACES_PATH = "/v1/traces"


def configure(
    option: Tracing, environ: Mapping[str, str] = os.environ, *, relay: Path | None = None
) -> bool:
    """Set tracing up in this process as ``option`` and the ``OTEL_*`` variables say; returns
    whether it is on. Call it in each worker (the provider's export thread must not be forked).
    With ``relay`` (a span relay's socket), finished spans are handed to it for export."""
    shutdown()
    if option.mode == "off" or environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if option.mode == "auto":
        if _embedding_provider() is not None:
            _use(_embedding_provider(), ratio=1.0, sample_here=False)
            return True
        if not _configured_by_environment(environ):
            return False
    endpoint = _traces_endpoint(option.endpoint) if option.endpoint else None
    ratio = option.sample if option.sample is not None else _ratio_from(environ)
    if relay is not None:
        global enabled, _recorder, _ratio, _sample_here
        from pyjinn import __version__
        from pyjinn.observability.span_relay import Recorder

        _recorder = Recorder(relay, endpoint, new_resource(environ), __version__)
        _ratio, _sample_here, enabled = ratio, True, True
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = new_provider(environ)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _use(provider, ratio=ratio, sample_here=True, owned=True)
    log.info(
        "Tracing: exporting spans over OTLP to %s%s (sampling %g of new traces).",
        endpoint or _endpoint_from(environ),
        " from the admin process" if relay is not None else "",
        ratio,
    )
    return True


def new_provider(environ: Mapping[str, str] = os.environ) -> Any:
    """An SDK tracer provider of ``new_resource`` that records whatever pyjinn decided to
    sample."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

    return TracerProvider(resource=new_resource(environ), sampler=ParentBased(ALWAYS_ON))


def new_resource(environ: Mapping[str, str] = os.environ) -> Any:
    """The SDK resource pyjinn's spans belong to: named after the service
    (``OTEL_SERVICE_NAME``, else pyjinn), with the ``OTEL_RESOURCE_ATTRIBUTES``."""
    from opentelemetry.sdk.resources import Resource

    from pyjinn import __version__

    attributes = {"service.version": __version__}
    if not environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "pyjinn"
    return Resource.create(attributes)


def install(provider: Any, *, ratio: float = 1.0) -> None:
    """Trace through ``provider`` (which pyjinn then owns and shuts down); for tests and tools
    that bring their own exporter."""
    shutdown()
    _use(provider, ratio=ratio, sample_here=True, owned=True)


def _use(provider: Any, *, ratio: float, sample_here: bool, owned: bool = False) -> None:
    global enabled, _tracer, _provider, _ratio, _sample_here
    from pyjinn import __version__

    _tracer = provider.get_tracer("pyjinn", __version__)
    _provider = provider if owned else None
    _ratio, _sample_here = ratio, sample_here
    enabled = True


def shutdown() -> None:
    """Export what is pending and turn tracing off in this process."""
    global enabled, _tracer, _provider, _recorder
    provider, recorder = _provider, _recorder
    enabled, _tracer, _provider, _recorder = False, None, None, None
    if provider is not None:
        provider.shutdown()
    if recorder is not None:
        recorder.shutdown()


def _embedding_provider() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    return provider if isinstance(provider, TracerProvider) else None


def _configured_by_environment(environ: Mapping[str, str]) -> bool:
    """OTLP export asked for by ``OTEL_TRACES_EXPORTER=otlp``, or by an OTLP endpoint variable
    with no exporter named; ``none`` (or any other exporter) leaves tracing off."""
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        if exporter not in ("otlp", "none"):
            log.warning("OTEL_TRACES_EXPORTER=%s is not supported; pyjinn exports OTLP.", exporter)
        return exporter == "otlp"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _traces_endpoint(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def _endpoint_from(environ: Mapping[str, str]) -> str:
    specific = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if specific:
        return specific
    return _traces_endpoint(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT)


def _ratio_from(environ: Mapping[str, str]) -> float:
    """The ratio the standard sampler variables ask for (always_on when they say nothing)."""
    sampler = environ.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").lower()
    if sampler.endswith("always_off"):
        return 0.0
    if sampler.endswith("traceidratio"):
        try:
            return min(1.0, max(0.0, float(environ.get("OTEL_TRACES_SAMPLER_ARG", "1"))))
        except ValueError:
            return 1.0
    return 1.0


# -- the request path ---------------------------------------------------------------------------


def start_invocation(
    function: str, traceparent: str | None, method: str, path: str
) -> tuple[Any, str | None]:
    """(the invocation span or None, its trace id or None when the caller's trace id stands).

    Only called when ``enabled``."""
    parent_context = None
    match = _TRACEPARENT.fullmatch(traceparent.strip()) if traceparent else None
    if match and match.group(1) != "ff" and match.group(2) != _ZERO_TRACE:
        if match.group(3) == _ZERO_SPAN:
            match = None
    else:
        match = None
    attributes = {"pyjinn.function": function, "http.request.method": method, "url.path": path}
    if match is not None:
        sampled = int(match.group(4), 16) & 1
        if _sample_here and not sampled:
            return None, None  # the caller decided; its trace id goes to the guest
        if _recorder is not None:
            span = _recorder.start(
                f"invoke {function}",
                attributes,
                trace_id=int(match.group(2), 16),
                parent_id=int(match.group(3), 16),
                parent_remote=True,
            )
            return span, match.group(2)
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

        remote = SpanContext(
            int(match.group(2), 16),
            int(match.group(3), 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT),
        )
        parent_context = trace.set_span_in_context(NonRecordingSpan(remote))
    elif not _sample_here:
        from opentelemetry import context, trace

        current = trace.get_current_span(context.get_current())
        if current.get_span_context().is_valid:
            parent_context = context.get_current()  # inside an instrumented application
    elif _ratio < 1.0 and random.random() >= _ratio:
        return None, None  # an unrecorded request costs this much and no more
    elif _recorder is not None:
        span = _recorder.start(f"invoke {function}", attributes)
        return span, f"{span.trace_id:032x}"
    from opentelemetry.trace import SpanKind

    span = _tracer.start_span(
        f"invoke {function}", context=parent_context, kind=SpanKind.SERVER, attributes=attributes
    )
    return span, f"{span.get_span_context().trace_id:032x}"


def finish_invocation(
    span: Any,
    *,
    outcome: str,
    blame: str | None,
    status: int,
    tenant: str,
    fuel: int,
    memory: int,
    detail: str | None,
) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attributes(
        {
            "pyjinn.outcome": outcome,
            "pyjinn.tenant": tenant,
            "pyjinn.fuel_consumed": fuel,
            "pyjinn.memory_bytes": memory,
            "http.response.status_code": status,
        }
    )
    if blame is not None:
        span.set_attribute("pyjinn.blame", blame)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, detail))
    span.end()


class GuestThreadSpan:
    """Makes ``span`` the current span on the guest thread while ``job`` runs, so host-call
    spans (and any instrumented backend library) nest under the invocation."""

    __slots__ = ("job", "span")

    def __init__(self, span: Any, job: Any) -> None:
        self.span = span
        self.job = job

    def __call__(self) -> Any:
        _local.span = self.span
        if _recorder is not None:  # no SDK here, so nothing else could nest under the span
            try:
                return self.job()
            finally:
                _local.span = None
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(self.span))
        try:
            return self.job()
        finally:
            _local.span = None
            context.detach(token)


def add_to_invocation(counts: dict[str, int]) -> None:
    """Add ``counts`` to integer attributes of the invocation span running on this (guest)
    thread, such as the tokens a model call used."""
    span = getattr(_local, "span", None)
    if span is None:
        return
    attributes = getattr(span, "attributes", None) or {}
    for name, count in counts.items():
        span.set_attribute(name, int(attributes.get(name, 0)) + count)


def host_call_span(capability: str, call: str, seconds: float, error: str | None) -> None:
    """A finished child span for one host call, from its record (on the guest thread)."""
    parent = getattr(_local, "span", None)
    if parent is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    ended = time.time_ns()
    started = ended - int(seconds * 1e9)
    name = f"{capability}.{call}"
    attributes = {
        "pyjinn.capability": capability,
        "pyjinn.call": call,
        "pyjinn.result": error or "ok",
    }
    if _recorder is not None:
        span = parent.child(name, attributes, started)
    else:
        span = _tracer.start_span(
            name,
            context=trace.set_span_in_context(parent),
            kind=SpanKind.INTERNAL,
            start_time=started,
            attributes=attributes,
        )
    if error is not None and error not in ("not_found",):
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=ended)
