"""Per-function numbers from aggregated metrics, and percentile estimates."""

from __future__ import annotations

import math

import pytest

from pyjinn.observability.metrics import REGISTRY, to_prometheus
from pyjinn.observability.stats import difference, function_stats, quantile


def test_quantile_interpolates_within_a_bucket_like_prometheus() -> None:
    buckets = [[0.1, 0], [0.2, 50], [0.4, 100], [math.inf, 100]]
    assert quantile(0.5, buckets) == pytest.approx(0.2)
    assert quantile(0.25, buckets) == pytest.approx(0.15)
    assert quantile(0.75, buckets) == pytest.approx(0.3)
    assert quantile(0.99, [[1.0, 0], [math.inf, 5]]) == 1.0  # past the last bound
    assert quantile(0.5, [[1.0, 0], [math.inf, 0]]) is None


def test_function_stats_sum_outcomes_and_histograms() -> None:
    metrics = REGISTRY.function("fn")
    for outcome, seconds in (("ok", 0.001), ("ok", 0.002), ("trap", 0.003)):
        metrics.count(outcome, "default")
        metrics.duration.observe(seconds)
        metrics.fuel.observe(100)
        metrics.memory.observe(65536)
    stats = function_stats(to_prometheus(REGISTRY.snapshot()))["fn"]
    assert stats["requests"] == 3 and stats["errors"] == 1
    assert stats["outcomes"] == {"ok": 2, "trap": 1}
    assert stats["fuel"]["sum"] == 300 and stats["fuel"]["count"] == 3
    assert 0.001 <= stats["p50_seconds"] <= 0.0025
    later = [[bound, count + 2] for bound, count in stats["duration_seconds"]["buckets"]]
    assert difference(later, stats["duration_seconds"]["buckets"])[-1] == [math.inf, 2]
