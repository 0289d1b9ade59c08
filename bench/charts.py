"""PNG charts of one run (matplotlib, no display needed)."""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PHASE_COLOURS = {
    "setup": "#4c72b0",
    "instantiate": "#55a868",
    "run": "#c44e52",
    "teardown": "#8172b2",
    "other": "#cccccc",
}


def draw(results: dict[str, Any], directory: Path, stem: str) -> list[str]:
    """Draw every chart the results allow; the file names written."""
    written = []
    for suffix, painter in (
        ("targets", _targets),
        ("http", _http),
        ("cpu", _cpu),
        ("inprocess", _inprocess),
        ("density", _density),
    ):
        name = f"{stem}-{suffix}.png"
        figure = painter(results)
        if figure is None:
            continue
        figure.savefig(directory / name, dpi=110, bbox_inches="tight")
        plt.close(figure)
        written.append(name)
    return written


def _targets(results: dict[str, Any]) -> Any:
    rows = [row for row in results["targets"] if row["vs_goal"] is not None]
    if not rows:
        return None
    # Share of the goal used, so that below 1 always means met: measured/goal for at-most
    # goals, goal/measured for at-least goals.
    shares = [r["vs_goal"] if r["direction"] == "<=" else 1 / r["vs_goal"] for r in rows]
    figure, axes = plt.subplots(figsize=(9, 0.5 * len(rows) + 1.2))
    colours = ["#55a868" if r["status"].startswith("met") else "#c44e52" for r in rows]
    axes.barh([r["target"] for r in rows], shares, color=colours)
    axes.axvline(1.0, color="black", linewidth=1)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel(
        "share of the goal used: measured ÷ goal for at-most goals, goal ÷ measured for "
        "at-least goals (log; left of 1 = met)"
    )
    axes.set_title("Targets: measured against goal")
    for index, share in enumerate(shares):
        axes.text(share, index, f" {share:.2f}", va="center", fontsize=8)
    return figure


def _http(results: dict[str, Any]) -> Any:
    variants = results.get("http", {}).get("variants")
    if not variants:
        return None
    labels = [v["label"] for v in variants.values()]
    rps = [v["requests_per_second"] for v in variants.values()]
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(labels) + 1.5), sharey=True)
    medians = [r["median"] for r in rps]
    errors = [[r["median"] - r["min"] for r in rps], [r["max"] - r["median"] for r in rps]]
    left.barh(labels, medians, xerr=errors, color="#4c72b0", capsize=3)
    left.set_xscale("log")
    left.set_xlabel("requests/s, 2xx only (log; bars: min–max of runs)")
    left.invert_yaxis()
    for index, value in enumerate(medians):
        left.text(value, index, f" {value:,.0f}", va="center", fontsize=8)
    p50 = [v["p50_ms"]["median"] for v in variants.values()]
    p99 = [v["p99_ms"]["median"] for v in variants.values()]
    positions = range(len(labels))
    right.barh([p - 0.2 for p in positions], p50, height=0.4, label="p50", color="#55a868")
    right.barh([p + 0.2 for p in positions], p99, height=0.4, label="p99", color="#c44e52")
    right.set_xscale("log")
    right.set_xlabel("latency, ms (log)")
    right.legend()
    figure.suptitle("HTTP at 50 connections (wrk), one run")
    return figure


def _cpu(results: dict[str, Any]) -> Any:
    """Server CPU per request of every HTTP variant: pyjinn's beside the peers'."""
    variants = {
        key: v
        for key, v in results.get("http", {}).get("variants", {}).items()
        if "cpu_us_per_request" in v
    }
    if not variants:
        return None
    labels = [v["label"] for v in variants.values()]
    cpu = [v["cpu_us_per_request"] for v in variants.values()]
    medians = [c["median"] for c in cpu]
    errors = [[c["median"] - c["min"] for c in cpu], [c["max"] - c["median"] for c in cpu]]
    colours = ["#c44e52" if key.startswith("pyjinn") else "#4c72b0" for key in variants]
    figure, axes = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5))
    axes.barh(labels, medians, xerr=errors, color=colours, capsize=3)
    axes.set_xscale("log")
    axes.invert_yaxis()
    axes.set_xlabel("server CPU µs per request, all its processes and threads (log; bars: runs)")
    axes.set_title("HTTP at 50 connections: CPU per request (pyjinn in red)")
    for index, (value, c) in enumerate(zip(medians, cpu, strict=True)):
        axes.text(c["max"] * 1.04, index, f" {value:,.0f}", va="center", fontsize=8)
    return figure


def _inprocess(results: dict[str, Any]) -> Any:
    part = results.get("inprocess", {})
    rows = dict(part.get("guests", {}))
    if "phases_us" in part.get("key_value", {}):
        rows["kv_get"] = part["key_value"]
    for case, figures in part.get("storage", {}).items():
        rows[figures.get("host_call", case)] = figures
    if not rows:
        return None
    figure, axes = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.4))
    names = list(rows)
    left = [0.0] * len(names)
    for phase in PHASE_COLOURS:
        widths = []
        for name in names:
            phases, total = rows[name]["phases_us"], rows[name]["total_us"]["p50"]
            if phase == "other":
                widths.append(max(0.0, total - sum(phases[p]["p50"] for p in phases)))
            else:
                widths.append(phases[phase]["p50"])
        axes.barh(names, widths, left=left, color=PHASE_COLOURS[phase], label=phase)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axes.invert_yaxis()
    axes.set_xlabel("µs, median per phase")
    axes.set_title("One invocation in-process: where the time goes")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return figure


def _density(results: dict[str, Any]) -> Any:
    functions = results.get("density", {}).get("functions")
    if not functions:
        return None
    counts = list(functions)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    width = 0.35
    for offset, label, colour in (
        (-width / 2, "uncached", "#c44e52"),
        (width / 2, "cached", "#55a868"),
    ):
        positions = [i + offset for i in range(len(counts))]
        left.bar(
            positions,
            [functions[c][label]["startup_seconds"] for c in counts],
            width,
            label=label,
            color=colour,
        )
        right.bar(
            positions,
            [functions[c][label]["worker_rss_bytes"] / 2**20 for c in counts],
            width,
            label=label,
            color=colour,
        )
    for axes, title in ((left, "start-up until ready, s"), (right, "idle worker RSS, MiB")):
        axes.set_xticks(range(len(counts)), [f"{int(c):,} functions" for c in counts])
        axes.set_title(title)
        axes.legend()
    return figure
