"""Summaries of repeated measurements: medians, percentiles and their spread."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``samples``, interpolated between neighbours."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def distribution(samples: Sequence[float]) -> dict[str, Any]:
    """Median, tail and spread of one set of samples (per-invocation times, say)."""
    return {
        "n": len(samples),
        "p50": percentile(samples, 0.50),
        "p99": percentile(samples, 0.99),
        "q1": percentile(samples, 0.25),
        "q3": percentile(samples, 0.75),
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
    }


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median and range of a few repetitions of one measurement (req/s of each run, say)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def ratio(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, Any]:
    """The ratio of two measurements repeated side by side: the ratio of their medians, and the
    range of the ratios of the repetitions taken together (run 1 with run 1, and so on)."""
    paired = [n / d for n, d in zip(numerators, denominators, strict=False) if d]
    return {
        "median": statistics.median(numerators) / statistics.median(denominators),
        "min": min(paired) if paired else None,
        "max": max(paired) if paired else None,
    }
