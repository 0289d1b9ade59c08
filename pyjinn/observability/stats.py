"""Per-function numbers for people: computed from the aggregated metrics for ``GET /stats``.

The document is cumulative since start-up (counts, histogram buckets, sums); ``pyjinn stats``
takes the difference of two of them for rates and recent percentiles. :func:`quantile`
estimates a percentile from histogram buckets as Prometheus's ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.metrics_core import Metric

from pyjinn.observability.metrics import (
    DURATION,
    FUEL,
    HOST_CALLS,
    IN_FLIGHT,
    INVOCATIONS,
    MEMORY,
)

Buckets = list[list[float]]  # [[upper bound, cumulative count], ...], +Inf last


def function_stats(families: Iterable[Metric]) -> dict[str, dict[str, Any]]:
    """Every function's cumulative numbers, from prometheus-client metric families."""
    functions: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        found = functions.get(name)
        if found is None:
            found = functions[name] = {
                "requests": 0,
                "errors": 0,
                "outcomes": {},
                "in_flight": 0,
                "host_calls": 0,
                "duration_seconds": _histogram(),
                "fuel": _histogram(),
                "memory_bytes": _histogram(),
            }
        return found

    histograms = {DURATION.name: "duration_seconds", FUEL.name: "fuel", MEMORY.name: "memory_bytes"}
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            function = labels.get("function")
            if function is None:
                continue
            if family.name == INVOCATIONS.name and sample.name.endswith("_total"):
                stats = entry(function)
                outcome = labels.get("outcome", "")
                stats["requests"] += int(sample.value)
                stats["outcomes"][outcome] = stats["outcomes"].get(outcome, 0) + int(sample.value)
                if outcome != "ok":
                    stats["errors"] += int(sample.value)
            elif family.name == IN_FLIGHT.name:
                entry(function)["in_flight"] += int(sample.value)
            elif family.name == HOST_CALLS.name and sample.name.endswith("_total"):
                entry(function)["host_calls"] += int(sample.value)
            elif family.name in histograms:
                histogram = entry(function)[histograms[family.name]]
                if sample.name.endswith("_bucket"):
                    histogram["buckets"].append([float(labels["le"]), sample.value])
                elif sample.name.endswith("_sum"):
                    histogram["sum"] += sample.value
                elif sample.name.endswith("_count"):
                    histogram["count"] += int(sample.value)
    for stats in functions.values():
        for key in ("duration_seconds", "fuel", "memory_bytes"):
            stats[key]["buckets"].sort()
        buckets = stats["duration_seconds"]["buckets"]
        stats["p50_seconds"] = quantile(0.5, buckets)
        stats["p99_seconds"] = quantile(0.99, buckets)
    return dict(sorted(functions.items()))


def _histogram() -> dict[str, Any]:
    return {"buckets": [], "sum": 0.0, "count": 0}


def quantile(q: float, buckets: Sequence[Sequence[float]]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets``, interpolated within its bucket; None
    without observations. Past the last finite bound, that bound (as Prometheus does)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def difference(now: Buckets, before: Buckets) -> Buckets:
    """Buckets of what happened between two cumulative snapshots."""
    earlier = {bound: count for bound, count in before}
    return [[bound, count - earlier.get(bound, 0)] for bound, count in now]
