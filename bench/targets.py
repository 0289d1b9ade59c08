"""The performance targets, evaluated against one run's results.

Each target is a goal for one figure, either at most (``<=``) or at least (``>=``). "vs goal" is
measured ÷ goal: at most 1 meets an at-most goal, at least 1 meets an at-least goal.
"""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Figure = tuple[float, str]  # the value, and how it reads in the table (with its context)


@dataclass(frozen=True)
class Target:
    key: str
    name: str
    goal: float
    direction: str  # "<=" or ">="
    unit: str
    extract: Callable[[dict[str, Any]], Figure | None]

    def evaluate(self, results: dict[str, Any]) -> dict[str, Any]:
        try:
            figure = self.extract(results)
        except (KeyError, TypeError, IndexError, ValueError):
            figure = None
        row: dict[str, Any] = {
            "key": self.key,
            "target": self.name,
            "goal": f"{self.direction} {_number(self.goal)} {self.unit}".strip(),
            "goal_value": self.goal,
            "direction": self.direction,
            "unit": self.unit,
        }
        if figure is None:
            row.update(value=None, measured="not measured", vs_goal=None, status="not measured")
            return row
        value, text = figure
        met = value <= self.goal if self.direction == "<=" else value >= self.goal
        row.update(
            value=value, measured=text, vs_goal=value / self.goal, status="met" if met else "missed"
        )
        return row


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:g}"


def _echo_p50(r: dict[str, Any]) -> Figure:
    p50 = r["inprocess"]["guests"]["echo"]["total_us"]["p50"]
    return p50, f"{p50:.1f} µs"


def _http_ratio(top: str, bottom: str) -> Callable[[dict[str, Any]], Figure]:
    def extract(r: dict[str, Any]) -> Figure:
        http = r["http"]
        value = http["ratios"][f"{top}/{bottom}"]["median"]
        a = http["variants"][top]["requests_per_second"]["median"]
        b = http["variants"][bottom]["requests_per_second"]["median"]
        return value, f"{value:.2f}× ({a:,.0f} vs {b:,.0f} req/s)"

    return extract


def _hello_cpu(r: dict[str, Any]) -> Figure:
    figures = r["http"]["variants"]["pyjinn_hello"]["cpu_us_per_request"]
    value = figures["median"]
    peers = [
        f"{name} {r['http']['variants'][key]['cpu_us_per_request']['median']:.0f}"
        for name, key in (
            ("bare ASGI", "bare_asgi"),
            ("wasmtime serve", "wasmtime_serve_hello"),
            ("workerd JS", "workerd_js_hello"),
        )
        if key in r["http"]["variants"]
    ]
    context = f"; {', '.join(peers)} µs" if peers else ""
    return value, f"{value:.0f} µs (runs {figures['min']:.0f}–{figures['max']:.0f}{context})"


def _hello_p99(r: dict[str, Any]) -> Figure:
    p99 = r["http"]["variants"]["pyjinn_hello"]["p99_ms"]
    return p99["median"], f"{p99['median']:.2f} ms (runs {p99['min']:.2f}–{p99['max']:.2f})"


def _up(r: dict[str, Any]) -> Figure:
    up = r["coldstart"]["pyjinn_up"]
    one, default = up["workers_1"]["median"], up["workers_default"]["median"]
    return one, f"{one:.0f} ms (default workers: {default:.0f} ms)"


def _timeout_overshoot(r: dict[str, Any]) -> Figure:
    # The worst case: every timeout must fire on time, not the typical one.
    figures = r["http"]["timeout_overshoot_ms"]
    return figures["max"], (
        f"max {figures['max']:.1f} ms, p50 {figures['p50']:.1f} ms "
        f"({figures['n']} timeouts of 500 ms under c=50)"
    )


def _jobs_vs_sync(r: dict[str, Any]) -> Figure:
    part = r["jobs"]["workers_1"]
    value = part["jobs_vs_sync"]["median"]
    jobs, sync = part["jobs_per_second"]["median"], part["sync_requests_per_second"]["median"]
    two = r["jobs"]["workers_2"]["jobs_per_second"]["median"]
    return value, f"{value:.2f}× ({jobs:,.0f} jobs/s vs {sync:,.0f} req/s; 2 workers {two:,.0f}/s)"


def _job_start_delay(r: dict[str, Any]) -> Figure:
    delays = r["jobs"]["workers_1"]["start_delay_ms"]
    return delays["p50"], f"{delays['p50']:.1f} ms p50, p99 {delays['p99']:.1f} ms"


def _first_hit_cached(r: dict[str, Any]) -> Figure:
    value = r["coldstart"]["modules"]["c"]["first_hit_cached_ms"]["median"]
    return value, f"{value:.2f} ms (C module)"


def _largest_density(r: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    functions = r["density"]["functions"]
    count = max(functions, key=int)
    return count, functions[count]


def _density_rss(r: dict[str, Any]) -> Figure:
    count, figures = _largest_density(r)
    uncached, cached = (
        figures["uncached"]["worker_rss_bytes"],
        figures["cached"]["worker_rss_bytes"],
    )
    mib = 2**20
    return max(uncached, cached) / 2**30, (
        f"{max(uncached, cached) / 2**30:.2f} GiB at {int(count):,} functions "
        f"(first start {uncached / mib:.0f} MiB, cached restart {cached / mib:.0f} MiB)"
    )


def _density_first_hit(r: dict[str, Any]) -> Figure:
    count, figures = _largest_density(r)
    uncached, cached = figures["uncached"]["first_hit_ms"], figures["cached"]["first_hit_ms"]
    value = max(uncached["p50"], cached["p50"])
    return value, (
        f"p50 {value:.2f} ms at {int(count):,} functions (max "
        f"{max(uncached['max'], cached['max']):.2f} ms)"
    )


def _kv_get(r: dict[str, Any]) -> Figure:
    kv = r["inprocess"]["key_value"]
    run = kv["phases_us"]["run"]["p50"]
    call = kv["host_calls_us"]["kv_get"]["p50"]
    return run, f"{run:.0f} µs (kv_get call alone {call:.0f} µs)"


def _storage(case: str, call: str) -> Callable[[dict[str, Any]], Figure]:
    def extract(r: dict[str, Any]) -> Figure:
        figures = r["inprocess"]["storage"][case]
        run = figures["phases_us"]["run"]["p50"]
        alone = figures["host_calls_us"][call]["p50"]
        return run, f"{run:.0f} µs ({call} call alone {alone:.0f} µs)"

    return extract


def _syscalls(r: dict[str, Any]) -> Figure | None:
    figures = r["http"]["syscalls_per_request"]
    if figures is None or "skipped" in figures:
        return None
    value = figures["per_request"]
    return value, f"{value:.1f} ({figures['calls']:,} calls, {figures['requests']:,} requests)"


def _tracing_cost(variant: str) -> Callable[[dict[str, Any]], Figure]:
    def extract(r: dict[str, Any]) -> Figure:
        part = r["observability"]
        value = part["ratios"][f"{variant}/tracing_off"]["median"]
        on = part["variants"][variant]["requests_per_second"]["median"]
        off = part["variants"]["tracing_off"]["requests_per_second"]["median"]
        return value, f"{value:.2f}× ({on:,.0f} vs {off:,.0f} req/s)"

    return extract


def _cache_lookup(r: dict[str, Any]) -> Figure:
    cache = r["ai"]["semantic_cache"]
    lookup, embedded = cache["lookup_us"]["p50"], cache["lookup_with_embedding_us"]["p50"]
    return lookup / 1000, (
        f"{lookup / 1000:.2f} ms at {cache['entries']:,} entries "
        f"(with the question's embedding: {embedded / 1000:.1f} ms)"
    )


def _meaning_route(r: dict[str, Any]) -> Figure:
    p50 = r["ai"]["routing"]["decision_ms"]["p50"]
    return p50, f"{p50:.1f} ms (embedding included)"


def _mcp_overhead(r: dict[str, Any]) -> Figure:
    mcp = r["ai"]["mcp"]
    overhead = mcp["overhead_us_p50"] / 1000
    return overhead, (
        f"{overhead:.2f} ms ({mcp['mcp_us']['p50'] / 1000:.2f} vs "
        f"{mcp['http_us']['p50'] / 1000:.2f} ms p50)"
    )


def _python_hello_p50(r: dict[str, Any]) -> Figure:
    p50 = r["languages"]["languages"]["python"]["total_us"]["p50"] / 1000
    return p50, f"{p50:.2f} ms"


TARGETS = (
    Target(
        "echo_in_process_p50", "C echo guest, in-process invocation p50", 30, "<=", "µs", _echo_p50
    ),
    Target(
        "hello_vs_bare_asgi",
        "pyjinn hello ÷ bare ASGI hello, req/s (c=50)",
        0.35,
        ">=",
        "×",
        _http_ratio("pyjinn_hello", "bare_asgi"),
    ),
    Target("hello_p99", "pyjinn hello p99 at c=50", 8, "<=", "ms", _hello_p99),
    Target(
        "hello_syscalls",
        "system calls per hello request (strace -c, pyjinn's processes)",
        12,
        "<=",
        "",
        _syscalls,
    ),
    Target(
        "hello_vs_wasmtime_serve",
        "hello req/s, 1 worker ÷ wasmtime serve hello (fresh instance per request)",
        1.2,
        ">=",
        "×",
        _http_ratio("pyjinn_hello", "wasmtime_serve_hello"),
    ),
    Target(
        "workload_vs_workerd_fresh",
        "workload req/s ÷ workerd fresh-instance workload",
        2,
        ">=",
        "×",
        _http_ratio("pyjinn_workload", "workerd_wasm_workload"),
    ),
    Target(
        "hello_server_cpu",
        "server CPU µs per hello request (all processes and threads, 1 worker)",
        70,
        "<=",
        "µs",
        _hello_cpu,
    ),
    Target(
        "jobs_vs_sync", "jobs end to end ÷ synchronous, 1 worker", 0.5, ">=", "×", _jobs_vs_sync
    ),
    Target("job_start_delay", "enqueue to start p50, 1 worker", 5, "<=", "ms", _job_start_delay),
    Target(
        "timeout_overshoot",
        "timeout overshoot at c=50",
        20,
        "<=",
        "ms",
        _timeout_overshoot,
    ),
    Target(
        "workload_vs_native",
        "Gojinn workload: pyjinn ÷ native process per request, req/s",
        20,
        ">=",
        "×",
        _http_ratio("pyjinn_workload", "native_per_request"),
    ),
    Target(
        "up_first_200", "pyjinn up, process start to first 200 (1 worker)", 150, "<=", "ms", _up
    ),
    Target(
        "first_hit_cached",
        "new module, first hit with the AOT cache",
        5,
        "<=",
        "ms",
        _first_hit_cached,
    ),
    Target("density_rss", "10,000 functions: idle worker RSS", 1, "<=", "GiB", _density_rss),
    Target("density_first_hit", "10,000 functions: first hit", 10, "<=", "ms", _density_first_hit),
    Target("kv_get_p50", "KV get from inside a function, p50", 100, "<=", "µs", _kv_get),
    Target(
        "sql_point_query_p50",
        "SQLite point query from inside a function, p50",
        50,
        "<=",
        "µs",
        _storage("sql_point_query", "db_query"),
    ),
    Target(
        "blob_get_p50",
        "4 KiB blob get (filesystem store) from inside a function, p50",
        100,
        "<=",
        "µs",
        _storage("blob_get_4kib", "blob_get"),
    ),
    Target(
        "python_hello_p50",
        "Python hello, in-process invocation p50 (fresh sandbox, from the memory image)",
        10,
        "<=",
        "ms",
        _python_hello_p50,
    ),
    Target(
        "tracing_every_request",
        "tracing every request: req/s ÷ tracing off",
        0.85,
        ">=",
        "×",
        _tracing_cost("tracing_on"),
    ),
    Target(
        "tracing_sampled",
        "tracing 1 in 10 new traces: req/s ÷ tracing off",
        0.97,
        ">=",
        "×",
        _tracing_cost("tracing_sampled"),
    ),
    Target(
        "access_records",
        "access records on (log level info) ÷ off, req/s",
        0.97,
        ">=",
        "×",
        _tracing_cost("access_log"),
    ),
    Target(
        "semantic_cache_lookup_p50",
        "semantic cache lookup p50 (10,000 entries)",
        5,
        "<=",
        "ms",
        _cache_lookup,
    ),
    Target(
        "meaning_route_p50", "routing by meaning: one decision, p50", 10, "<=", "ms", _meaning_route
    ),
    Target(
        "mcp_overhead_p50",
        "MCP tools/call round trip minus an HTTP call of the same function, p50",
        1,
        "<=",
        "ms",
        _mcp_overhead,
    ),
)


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target. In quick mode the figures are indicative only, and say so."""
    rows = [target.evaluate(results) for target in TARGETS]
    if results.get("meta", {}).get("mode") == "quick":
        for row in rows:
            if row["status"] in ("met", "missed"):
                row["status"] = f"{row['status']} (quick run: indicative only)"
    return rows
