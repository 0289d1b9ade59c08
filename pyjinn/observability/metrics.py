"""Process-wide metrics, recorded with plain arithmetic and exported in Prometheus form.

prometheus-client's own metric objects cost 1 to 4 µs per update in multiprocess mode (a lock,
a ``getpid`` and an mmap write each), which is several per cent of an invocation. So the request
path only adds to counters and histogram buckets held here, in objects bound once per function,
and the Prometheus side reads them when it needs to: a collector at scrape time when pyjinn is
embedded (:func:`install_collector`), or a flusher thread writing prometheus-client's
multiprocess files about once a second under ``pyjinn up`` (:mod:`.multiprocess`).

Invocation metrics are recorded on the event loop thread; host calls and module loads may come
from any thread and take a lock. Labels are bounded by the configuration: function names, the
outcome kinds, configured tenants, the ABI's calls and error codes. Nothing a client sends
becomes a label.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import REGISTRY as DEFAULT_REGISTRY
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

# prometheus-client publishes no types for it; it renders bucket bounds as Prometheus does.
_bound_text = cast(Callable[[float], str], floatToGoString)

KiB = 1024
DURATION_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
WAIT_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HOST_CALL_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
)  # fmt: skip
FUEL_BUCKETS = (1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11)
MEMORY_BUCKETS = tuple(float(64 * KiB * 4**power) for power in range(9))  # 64 KiB to 4 GiB
LOAD_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Family:
    """One metric as Prometheus names it: ``name`` without the ``_total`` of counters."""

    name: str
    kind: str  # counter, gauge or histogram
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


INVOCATIONS = Family(
    "pyjinn_invocations",
    "counter",
    "Invocations by function, outcome (ok, a guest error kind, a rejection, host_error) and "
    "configured tenant.",
    ("function", "outcome", "tenant"),
)
DURATION = Family(
    "pyjinn_invocation_duration_seconds",
    "histogram",
    "Time from a request reaching its function until its response is ready.",
    ("function",),
    DURATION_BUCKETS,
)
IN_FLIGHT = Family(
    "pyjinn_instances_in_flight",
    "gauge",
    "Sandboxes holding a pool slot now (waiting for a guest thread or running).",
    ("function",),
)
POOL_WAIT = Family(
    "pyjinn_pool_wait_seconds",
    "histogram",
    "Time an invocation waited for a free pool slot (pool_size, pool_wait).",
    ("function",),
    WAIT_BUCKETS,
)
FUEL = Family(
    "pyjinn_fuel_consumed",
    "histogram",
    "Fuel (wasm instructions, roughly) each invocation consumed.",
    ("function",),
    FUEL_BUCKETS,
)
MEMORY = Family(
    "pyjinn_guest_memory_bytes",
    "histogram",
    "Linear memory of each guest when it finished (its peak: wasm memory never shrinks).",
    ("function",),
    MEMORY_BUCKETS,
)
HOST_CALLS = Family(
    "pyjinn_host_calls",
    "counter",
    "Host calls by function, capability, call and result (ok or the ABI error).",
    ("function", "capability", "call", "result"),
)
HOST_CALL_DURATION = Family(
    "pyjinn_host_call_duration_seconds",
    "histogram",
    "Time spent in each host call, including the backend it reached.",
    ("function", "capability", "call"),
    HOST_CALL_BUCKETS,
)
MODULE_LOADS = Family(
    "pyjinn_module_loads",
    "counter",
    "Modules loaded: hit came from the compile cache, miss was compiled.",
    ("result",),
)
MODULE_LOAD_TIME = Family(
    "pyjinn_module_load_seconds",
    "histogram",
    "Time to load a module (compile or read the compile cache, then link).",
    ("result",),
    LOAD_BUCKETS,
)
GUEST_LOG_DROPPED = Family(
    "pyjinn_guest_log_lines_dropped",
    "counter",
    "Guest log lines not logged: over the per-invocation cap or the per-function rate.",
    ("function",),
)
JOBS = Family(
    "pyjinn_jobs",
    "counter",
    "Job events by function, tenant and event: queued, started, succeeded, failed (an attempt "
    "that will be retried), dead (out of attempts), duplicate (a delivery of a finished job).",
    ("function", "tenant", "event"),
)
JOBS_RUNNING = Family(
    "pyjinn_jobs_running",
    "gauge",
    "Jobs running now in this process.",
    ("function",),
)
JOB_START_DELAY = Family(
    "pyjinn_job_start_delay_seconds",
    "histogram",
    "Time from a job being enqueued (or retried) to an attempt starting.",
    ("function",),
    (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
AI_TOKENS = Family(
    "pyjinn_ai_tokens",
    "counter",
    "Model tokens used by function, configured tenant and kind (prompt or completion).",
    ("function", "tenant", "kind"),
)
AI_CACHE = Family(
    "pyjinn_ai_cache_lookups",
    "counter",
    "Answer cache lookups of model calls by function and result (hit or miss).",
    ("function", "result"),
)
MEANING_ROUTES = Family(
    "pyjinn_meaning_routes",
    "counter",
    "Requests routed by meaning, by route (its path matcher) and chosen function "
    "(none: no function was near enough and there is no fallback).",
    ("route", "function"),
)
HTTP_REQUESTS = Family(
    "pyjinn_http_requests",
    "counter",
    "Outbound HTTP requests of functions (http_request, host_http_get) by function, host (an "
    "allowed host:port, or refused) and result (the status class, like 2xx, or the refusal: "
    "denied, address_refused, timeout, limit, unavailable).",
    ("function", "host", "result"),
)
LOCKS_LEFT_HELD = Family(
    "pyjinn_locks_left_held",
    "counter",
    "Locks an invocation still held when it ended, which pyjinn then released, by function.",
    ("function",),
)
CORS_PREFLIGHTS = Family(
    "pyjinn_cors_preflights",
    "counter",
    "CORS preflights answered for functions with cors_origin, by function and result "
    "(allowed, or refused: an origin not allowed, or a malformed request).",
    ("function", "result"),
)
WEBSOCKETS_OPEN = Family(
    "pyjinn_websocket_connections_open",
    "gauge",
    "WebSocket connections open now, each holding a sandbox of its function.",
    ("function",),
)
WEBSOCKETS = Family(
    "pyjinn_websocket_connections",
    "counter",
    "WebSocket connections that ended, by who ended them: client, function, idle (the idle "
    "timeout), max_duration, too_big (a message over max_message), not_reading (a client that "
    "did not read) or error (the function failed).",
    ("function", "closed_by"),
)
WEBSOCKET_MESSAGES = Family(
    "pyjinn_websocket_messages",
    "counter",
    "WebSocket messages by direction: in (from clients) and out (to clients).",
    ("function", "direction"),
)
WEBSOCKET_BYTES = Family(
    "pyjinn_websocket_message_bytes",
    "counter",
    "Bytes of WebSocket messages by direction: in (from clients) and out (to clients).",
    ("function", "direction"),
)
WEBSOCKET_DURATION = Family(
    "pyjinn_websocket_connection_seconds",
    "histogram",
    "How long each WebSocket connection stayed open.",
    ("function",),
    (0.1, 1.0, 10.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 86400.0),
)
FAMILIES = (
    INVOCATIONS,
    DURATION,
    IN_FLIGHT,
    POOL_WAIT,
    FUEL,
    MEMORY,
    HOST_CALLS,
    HOST_CALL_DURATION,
    MODULE_LOADS,
    MODULE_LOAD_TIME,
    GUEST_LOG_DROPPED,
    JOBS,
    JOBS_RUNNING,
    JOB_START_DELAY,
    AI_TOKENS,
    AI_CACHE,
    MEANING_ROUTES,
    HTTP_REQUESTS,
    LOCKS_LEFT_HELD,
    CORS_PREFLIGHTS,
    WEBSOCKETS_OPEN,
    WEBSOCKETS,
    WEBSOCKET_MESSAGES,
    WEBSOCKET_BYTES,
    WEBSOCKET_DURATION,
)


class Histogram:
    """Bucket counts (not cumulative; the last one is +Inf) and the sum of observations."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound >= value.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class FunctionMetrics:
    """One function's metrics in this process, kept across reloads (looked up by name)."""

    __slots__ = (
        "dropped_log_lines",
        "duration",
        "fuel",
        "in_flight",
        "invocations",
        "memory",
        "name",
        "pool_wait",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.invocations: dict[tuple[str, str], int] = {}  # (outcome, tenant) -> count
        self.duration = Histogram(DURATION_BUCKETS)
        self.pool_wait = Histogram(WAIT_BUCKETS)
        self.fuel = Histogram(FUEL_BUCKETS)
        self.memory = Histogram(MEMORY_BUCKETS)
        self.in_flight = 0
        self.dropped_log_lines = 0

    def count(self, outcome: str, tenant: str) -> None:
        key = (outcome, tenant)
        self.invocations[key] = self.invocations.get(key, 0) + 1


@dataclass
class _HostCallMetrics:
    results: dict[str, int] = field(default_factory=dict)
    duration: Histogram = field(default_factory=lambda: Histogram(HOST_CALL_BUCKETS))


class Registry:
    """Every metric of this process."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionMetrics] = {}
        # (function, capability, call) -> results and duration
        self._host_calls: dict[tuple[str, str, str], _HostCallMetrics] = {}
        self._module_loads = {"hit": Histogram(LOAD_BUCKETS), "miss": Histogram(LOAD_BUCKETS)}
        # Counters of the AI capability and routing by meaning: family name -> labels -> count.
        self._counters: dict[str, dict[tuple[str, ...], int]] = {}
        self._lock = threading.Lock()
        # Job metrics, recorded on the event loop thread.
        self.jobs: dict[tuple[str, str, str], int] = {}
        self.jobs_running: dict[str, int] = {}
        self.job_start_delay: dict[str, Histogram] = {}
        # WebSocket connections open now, and how long the ended ones lasted, by function.
        self.websockets_open: dict[str, int] = {}
        self.websocket_duration: dict[str, Histogram] = {}

    def websocket_opened(self, function: str) -> None:
        with self._lock:
            self.websockets_open[function] = self.websockets_open.get(function, 0) + 1

    def websocket_closed(self, function: str, closed_by: str, seconds: float) -> None:
        with self._lock:
            self.websockets_open[function] = self.websockets_open.get(function, 0) - 1
            histogram = self.websocket_duration.get(function)
            if histogram is None:
                histogram = self.websocket_duration[function] = Histogram(
                    WEBSOCKET_DURATION.buckets
                )
            histogram.observe(seconds)
        self.add(WEBSOCKETS, (function, closed_by))

    def websocket_message(self, function: str, direction: str, size: int) -> None:
        self.add(WEBSOCKET_MESSAGES, (function, direction))
        self.add(WEBSOCKET_BYTES, (function, direction), size)

    def job_event(self, function: str, tenant: str, event: str) -> None:
        key = (function, tenant, event)
        self.jobs[key] = self.jobs.get(key, 0) + 1

    def job_started(self, function: str, delay: float) -> None:
        histogram = self.job_start_delay.get(function)
        if histogram is None:
            histogram = self.job_start_delay[function] = Histogram(JOB_START_DELAY.buckets)
        histogram.observe(max(0.0, delay))

    def function(self, name: str) -> FunctionMetrics:
        """The metrics of function ``name``, created on first use."""
        metrics = self.functions.get(name)
        if metrics is None:
            with self._lock:
                metrics = self.functions.setdefault(name, FunctionMetrics(name))
        return metrics

    def host_call(
        self, function: str, capability: str, call: str, result: str, seconds: float
    ) -> None:
        """Count one host call (from any thread)."""
        key = (function, capability, call)
        with self._lock:
            metrics = self._host_calls.get(key)
            if metrics is None:
                metrics = self._host_calls[key] = _HostCallMetrics()
            metrics.results[result] = metrics.results.get(result, 0) + 1
            metrics.duration.observe(seconds)

    def add(self, family: Family, labels: tuple[str, ...], amount: int = 1) -> None:
        """Add to a counter of ``family`` (from any thread)."""
        with self._lock:
            counts = self._counters.setdefault(family.name, {})
            counts[labels] = counts.get(labels, 0) + amount

    def ai_tokens(self, function: str, tenant: str, prompt: int, completion: int) -> None:
        self.add(AI_TOKENS, (function, tenant, "prompt"), prompt)
        self.add(AI_TOKENS, (function, tenant, "completion"), completion)

    def ai_cache(self, function: str, result: str) -> None:
        self.add(AI_CACHE, (function, result))

    def meaning_route(self, route: str, function: str) -> None:
        self.add(MEANING_ROUTES, (route, function))

    def http_request(self, function: str, host: str, result: str) -> None:
        self.add(HTTP_REQUESTS, (function, host, result))

    def locks_left_held(self, function: str, count: int) -> None:
        self.add(LOCKS_LEFT_HELD, (function,), count)

    def cors_preflight(self, function: str, result: str) -> None:
        self.add(CORS_PREFLIGHTS, (function, result))

    def module_load(self, from_cache: bool, seconds: float) -> None:
        with self._lock:
            self._module_loads["hit" if from_cache else "miss"].observe(seconds)

    def reset(self) -> None:
        """Forget everything (a forked child starts from zero; tests start clean)."""
        with self._lock:
            self.functions.clear()
            self._host_calls.clear()
            self._counters.clear()
            self._module_loads = {"hit": Histogram(LOAD_BUCKETS), "miss": Histogram(LOAD_BUCKETS)}
            self.websockets_open.clear()
            self.websocket_duration.clear()
        self.jobs.clear()
        self.jobs_running.clear()
        self.job_start_delay.clear()

    def snapshot(
        self, unchanged_since: dict[str, tuple[float, ...]] | None = None
    ) -> Iterator[tuple[Family, tuple[str, ...], int | float | Histogram]]:
        """Every (family, label values, value) now; histograms as copies.

        With ``unchanged_since`` (kept by the caller between calls), functions whose metrics
        did not change since the previous call are left out: with thousands of mostly idle
        functions, writing them all every second would cost more than serving them."""
        for metrics in list(self.functions.values()):
            if unchanged_since is not None:
                fingerprint = (
                    metrics.in_flight,
                    metrics.dropped_log_lines,
                    metrics.duration.sum,
                    metrics.pool_wait.sum,
                )
                if unchanged_since.get(metrics.name) == fingerprint:
                    continue
                unchanged_since[metrics.name] = fingerprint
            name = (metrics.name,)
            for (outcome, tenant), count in list(metrics.invocations.items()):
                yield INVOCATIONS, (metrics.name, outcome, tenant), count
            yield DURATION, name, _copy(metrics.duration)
            yield IN_FLIGHT, name, metrics.in_flight
            yield POOL_WAIT, name, _copy(metrics.pool_wait)
            yield FUEL, name, _copy(metrics.fuel)
            yield MEMORY, name, _copy(metrics.memory)
            yield GUEST_LOG_DROPPED, name, metrics.dropped_log_lines
        with self._lock:
            host_calls = [
                (key, dict(metrics.results), _copy(metrics.duration))
                for key, metrics in self._host_calls.items()
            ]
            loads = [(result, _copy(histogram)) for result, histogram in self._module_loads.items()]
            counters = [
                (family_name, labels, count)
                for family_name, counts in self._counters.items()
                for labels, count in counts.items()
            ]
            websockets_open = list(self.websockets_open.items())
            websocket_durations = [
                (function, _copy(histogram))
                for function, histogram in self.websocket_duration.items()
            ]
        for key, results, duration in host_calls:
            for result, count in results.items():
                yield HOST_CALLS, (*key, result), count
            yield HOST_CALL_DURATION, key, duration
        for result, histogram in loads:
            yield MODULE_LOADS, (result,), histogram.count
            yield MODULE_LOAD_TIME, (result,), histogram
        for key, count in list(self.jobs.items()):
            yield JOBS, key, count
        for function, running in list(self.jobs_running.items()):
            yield JOBS_RUNNING, (function,), running
        for function, histogram in list(self.job_start_delay.items()):
            yield JOB_START_DELAY, (function,), _copy(histogram)
        for function, count in websockets_open:
            yield WEBSOCKETS_OPEN, (function,), count
        for function, histogram in websocket_durations:
            yield WEBSOCKET_DURATION, (function,), histogram
        by_name = {family.name: family for family in FAMILIES}
        for family_name, labels, count in counters:
            yield by_name[family_name], labels, count


def _copy(histogram: Histogram) -> Histogram:
    copy = Histogram(histogram.bounds)
    copy.counts = list(histogram.counts)
    copy.sum = histogram.sum
    return copy


REGISTRY = Registry()


def raw_samples(
    family: Family, labels: tuple[str, ...], value: int | float | Histogram
) -> Iterator[tuple[str, dict[str, str], float]]:
    """(sample name, labels, value) as prometheus-client's multiprocess files hold them:
    histogram buckets not cumulative, and no ``_count`` (the reader derives it)."""
    labelled = dict(zip(family.labels, labels, strict=True))
    if isinstance(value, Histogram):
        for bound, count in zip((*value.bounds, float("inf")), value.counts, strict=True):
            yield f"{family.name}_bucket", {**labelled, "le": _bound_text(bound)}, count
        yield f"{family.name}_sum", labelled, value.sum
    elif family.kind == "counter":
        yield f"{family.name}_total", labelled, value
    else:
        yield family.name, labelled, value


def to_prometheus(
    snapshot: Iterable[tuple[Family, tuple[str, ...], int | float | Histogram]],
) -> list[Metric]:
    """A snapshot as prometheus-client metric families, ready for exposition."""
    families: dict[str, Metric] = {
        family.name: Metric(family.name, family.help, family.kind) for family in FAMILIES
    }
    for family, labels, value in snapshot:
        metric = families[family.name]
        labelled = dict(zip(family.labels, labels, strict=True))
        if isinstance(value, Histogram):
            cumulative = 0
            for bound, count in zip((*value.bounds, float("inf")), value.counts, strict=True):
                cumulative += count
                bucket = {**labelled, "le": _bound_text(bound)}
                metric.samples.append(Sample(f"{family.name}_bucket", bucket, cumulative))
            metric.samples.append(Sample(f"{family.name}_count", labelled, cumulative))
            metric.samples.append(Sample(f"{family.name}_sum", labelled, value.sum))
        else:
            name = f"{family.name}_total" if family.kind == "counter" else family.name
            metric.samples.append(Sample(name, labelled, value))
    return list(families.values())


class ProcessCollector(Collector):
    """Exposes this process's metrics through a prometheus-client registry (embedded use)."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return to_prometheus(self._registry.snapshot())


_installed = False


def install_collector(registry: Any = DEFAULT_REGISTRY) -> None:
    """Expose pyjinn's metrics on prometheus-client's default registry (once per process), so
    an embedding application's ``/metrics`` (``prometheus_client.make_asgi_app()``) shows them."""
    global _installed
    if not _installed:
        registry.register(ProcessCollector())
        _installed = True
