"""``pyjinn stats``: a live table of every function, read from the admin API's ``GET /stats``.

Each refresh takes the difference with the previous reading, so the table shows what happened
in the last interval: requests per second, median and 99th percentile duration, errors, and
the average fuel and memory of an invocation. Totals since start-up stand beside them.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pyjinn.observability.stats import difference, quantile

MiB = 1024 * 1024


class AdminUnreachable(Exception):
    """The admin API did not answer (pyjinn is not running there, or admin is off)."""


def fetch(admin: str, timeout: float = 5.0) -> dict[str, Any]:
    """The ``/stats`` document of the pyjinn whose admin API is at ``admin`` (host:port)."""
    url = admin if admin.startswith("http") else f"http://{admin}"
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/stats", timeout=timeout) as answer:
            document: dict[str, Any] = json.load(answer)
            return document
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise AdminUnreachable(f"cannot read {url}/stats: {reason}") from None


def rows(now: dict[str, Any], before: dict[str, Any] | None, seconds: float) -> list[list[str]]:
    """One row of text per function: name, req/s, p50, p99, errors, fuel, memory, totals."""
    table = []
    earlier = (before or {}).get("functions", {})
    for name, stats in now.get("functions", {}).items():
        previous = earlier.get(name)
        if previous is None or seconds <= 0:
            window, rate = stats, None
        else:
            window = _window(stats, previous)
            rate = window["requests"] / seconds
        buckets = window["duration_seconds"]["buckets"]
        table.append(
            [
                name,
                "-" if rate is None else f"{rate:,.1f}",
                _milliseconds(quantile(0.5, buckets)),
                _milliseconds(quantile(0.99, buckets)),
                f"{window['errors']:,}",
                _average(window["fuel"], "{:,.0f}"),
                _average(window["memory_bytes"], "{:,.1f} MiB", scale=MiB),
                f"{stats['in_flight']:,}",
                f"{stats['requests']:,}",
                f"{stats['errors']:,}",
            ]
        )
    return table


def _window(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    def histogram(key: str) -> dict[str, Any]:
        return {
            "buckets": difference(now[key]["buckets"], before[key]["buckets"]),
            "sum": now[key]["sum"] - before[key]["sum"],
            "count": now[key]["count"] - before[key]["count"],
        }

    return {
        "requests": now["requests"] - before["requests"],
        "errors": now["errors"] - before["errors"],
        "duration_seconds": histogram("duration_seconds"),
        "fuel": histogram("fuel"),
        "memory_bytes": histogram("memory_bytes"),
    }


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.2f} ms"


def _average(histogram: dict[str, Any], form: str, scale: float = 1.0) -> str:
    if not histogram["count"]:
        return "-"
    return form.format(histogram["sum"] / histogram["count"] / scale)


COLUMNS = (
    "function",
    "req/s",
    "p50",
    "p99",
    "errors",
    "fuel/req",
    "memory",
    "in flight",
    "total",
    "total errors",
)


def render(now: dict[str, Any], before: dict[str, Any] | None, seconds: float) -> Table:
    title = f"pyjinn: {now.get('workers', 0)} worker(s), up {now.get('uptime_seconds', 0):,.0f} s"
    table = Table(title=title, title_justify="left")
    for index, column in enumerate(COLUMNS):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows(now, before, seconds):
        table.add_row(*row)
    if not now.get("functions"):
        table.caption = "no invocations yet"
    return table


def watch(admin: str, interval: float, *, once: bool, console: Console | None = None) -> None:
    """Show the table, refreshed every ``interval`` seconds until Ctrl-C; with ``once``, one
    table over one interval. Raises ``AdminUnreachable``."""
    console = console or Console()
    before, then = fetch(admin), time.monotonic()
    if once:
        time.sleep(interval)
        now = fetch(admin)
        console.print(render(now, before, time.monotonic() - then))
        return
    with Live(render(before, None, 0), console=console, auto_refresh=False) as live:
        try:
            while True:
                time.sleep(interval)
                now, moment = fetch(admin), time.monotonic()
                live.update(render(now, before, moment - then), refresh=True)
                before, then = now, moment
        except KeyboardInterrupt:
            pass
