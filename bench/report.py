"""The markdown report of one run: the targets first, then every part's figures."""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

from typing import Any

GiB, MiB = 2**30, 2**20


def render(results: dict[str, Any], charts: list[str]) -> str:
    lines: list[str] = []
    meta, env = results["meta"], results["environment"]
    dirty = " (with uncommitted changes in the tree)" if env.get("git_dirty") else ""
    lines += [
        f"# pyjinn benchmark — {meta['started']}",
        "",
        f"Mode: **{meta['mode']}**, {meta['seconds']:.0f} s. Machine: {env['cpu_model']}, "
        f"{env['cores']} cores, {env['memory_gib']} GiB, Linux {env['kernel']}, Python "
        f"{env['python']}, wasmtime-py {env['packages'].get('wasmtime')}. Commit "
        f"`{(env.get('git_commit') or 'unknown')[:12]}`{dirty}. "
        f"Load average (1, 5, 15 min) before {env['load_average_before']}, after "
        f"{env.get('load_average_after')}.",
        "",
        "Every comparison is a ratio of figures measured in this run; medians with the range of "
        "the repetitions. How to read this: bench/README.md.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | vs goal | |",
        "|---|---|---|---|---|",
    ]
    for row in results["targets"]:
        vs = f"{row['vs_goal']:.2f}" if row["vs_goal"] is not None else "–"
        mark = row["status"].replace("missed", "❌ missed").replace("met", "✅ met")
        lines.append(f"| {row['target']} | {row['goal']} | {row['measured']} | {vs} | {mark} |")
    lines += [
        "",
        "“vs goal” is measured ÷ goal (≤ 1 meets an at-most goal, ≥ 1 an at-least goal).",
        "",
    ]
    lines += _errors(results)
    lines += _inprocess(results.get("inprocess", {}))
    lines += _http(results.get("http", {}))
    lines += _coldstart(results.get("coldstart", {}))
    lines += _density(results.get("density", {}))
    lines += _scaling(results.get("http", {}))
    lines += _observability(results.get("observability", {}))
    lines += _ai(results.get("ai", {}))
    lines += _languages(results.get("languages", {}))
    lines += _egress(results.get("egress", {}))
    if "peers" in results:
        lines += _peers(results["peers"])
    if charts:
        lines += ["## Charts", ""] + [f"![{name}]({name})" for name in charts] + [""]
    return "\n".join(lines)


def _errors(results: dict[str, Any]) -> list[str]:
    failed = {
        name: part["error"]
        for name, part in results.items()
        if isinstance(part, dict) and "error" in part
    }
    if not failed:
        return []
    return ["## Parts that failed", ""] + [f"- **{k}**: `{v}`" for k, v in failed.items()] + [""]


def _us(figure: dict[str, Any]) -> str:
    return f"{figure['p50']:.1f}"


def _inprocess(part: dict[str, Any]) -> list[str]:
    if "guests" not in part:
        return []
    config = part["config"]
    lines = [
        "## 1. Invocation in-process (no HTTP)",
        "",
        f"Fresh sandbox per call, limits on ({config['limits']}); {config['repetitions']} × "
        f"{config['invocations_per_repetition']} calls after {config['warmup']} warm-up. "
        "Microseconds; phases are medians of `Run.phases`, “other” is the rest of the median "
        "call (Python around the phases).",
        "",
        "| guest | p50 | p99 | p50 range over repetitions | setup | instantiate | run | "
        "teardown | other |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = dict(part["guests"])
    if "key_value" in part and "total_us" in part["key_value"]:
        rows["kv_get (1 get + result_read, real nats-server)"] = part["key_value"]
    storage_labels = {
        "sql_point_query": "db_query (SQLite point query + result_read)",
        "blob_get_4kib": "blob_get (4 KiB from the filesystem store + result_read)",
    }
    for case, figures in part.get("storage", {}).items():
        rows[storage_labels.get(case, case)] = figures
    for name, figures in rows.items():
        total, phases = figures["total_us"], figures["phases_us"]
        other = total["p50"] - sum(
            phases[p]["p50"] for p in ("setup", "instantiate", "run", "teardown")
        )
        spread = figures["p50_us_per_repetition"]
        lines.append(
            f"| {name} | {total['p50']:.1f} | {total['p99']:.1f} | "
            f"{spread['min']:.1f}–{spread['max']:.1f} | "
            f"{_us(phases['setup'])} | {_us(phases['instantiate'])} | {_us(phases['run'])} | "
            f"{_us(phases['teardown'])} | {other:.1f} |"
        )
    if "echo_through_runtime_call" in part:
        total = part["echo_through_runtime_call"]["total_us"]
        lines += [
            "",
            f"The echo guest through `Runtime.call` (slot, hand-over to a guest thread and "
            f"back, one call at a time): p50 {total['p50']:.1f} µs, p99 {total['p99']:.1f} µs.",
        ]
    timed_calls: dict[str, dict[str, Any]] = {}
    for figures in [part.get("key_value", {}), *part.get("storage", {}).values()]:
        timed_calls.update(figures.get("host_calls_us", {}))
    if timed_calls:
        calls = ", ".join(
            f"{name} p50 {d['p50']:.0f} µs (p99 {d['p99']:.0f})" for name, d in timed_calls.items()
        )
        lines += ["", f"Host calls as the dispatcher times them: {calls}."]
    return [*lines, ""]


def _http(part: dict[str, Any]) -> list[str]:
    lines = ["## 2. HTTP at 50 connections", ""]
    if "variants" not in part:
        return [*lines, f"Skipped: {part.get('skipped') or part.get('error')}", ""]
    config = part["config"]
    lines += [
        f"`wrk -t{config['wrk_threads']} -c{config['connections']}`, "
        f"{config['warmup_seconds']:g} s "
        f"warm-up per variant, then {config['repetitions']} runs of {config['seconds']:g} s "
        f"alternating the variants. pyjinn functions: {config['function_limits']}. "
        f"Process-per-request front: {config.get('front', 'n/a')}.",
        "",
        "| variant | request | req/s (2xx) | range | p50 ms | p99 ms | server CPU µs/request "
        "| non-2xx | socket errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for figures in part["variants"].values():
        rps = figures["requests_per_second"]
        lines.append(
            f"| {figures['label']} | `{figures['request']}` | {rps['median']:,.0f} | "
            f"{rps['min']:,.0f}–{rps['max']:,.0f} | {figures['p50_ms']['median']:.2f} | "
            f"{figures['p99_ms']['median']:.2f} | {_cpu(figures)} | {figures['non_2xx']} | "
            f"{figures['socket_errors']} |"
        )
    lines += [
        "",
        "Server CPU: the user + system time of all the server's processes and threads (from "
        "/proc, children that exited included) during a run, ÷ its answers; median of the runs.",
    ]
    lines += ["", "| ratio (req/s) | median | range over runs |", "|---|---|---|"]
    for name, value in part["ratios"].items():
        lines.append(f"| {name} | {value['median']:.2f}× | {value['min']:.2f}–{value['max']:.2f} |")
    for name, reason in part.get("skipped", {}).items():
        lines.append(f"\nSkipped {name}: {reason}")
    if "wasmtime_cli" in config:
        cli = config["wasmtime_cli"]
        lines += ["", f"wasmtime CLI: {cli['version']} from {cli['source']}."]
    peers = config.get("peers", {})
    if "wasmtime_serve" in peers:
        serve = peers["wasmtime_serve"]
        lines += [
            "",
            f"wasmtime serve: `{serve['command']}` (hello component "
            f"{serve['component_bytes']:,} B, lifted with {serve['built_with']}).",
        ]
    if "workerd" in peers:
        lines += ["", f"workerd: {peers['workerd']['version']} (`{peers['workerd']['package']}`)."]
    syscalls = part.get("syscalls_per_request") or {}
    if "per_request" in syscalls:
        top = ", ".join(f"{name} {count:.1f}" for name, count in syscalls["top"].items())
        lines += [
            "",
            f"System calls per hello request (`strace -f -c` on pyjinn's processes under c=50): "
            f"**{syscalls['per_request']:.1f}**; the most frequent, per request: {top}.",
        ]
    return [*lines, ""]


def _cpu(figures: dict[str, Any]) -> str:
    cpu = figures.get("cpu_us_per_request")
    if cpu is None:
        return "–"
    return f"{cpu['median']:.0f} ({cpu['min']:.0f}–{cpu['max']:.0f})"


def _peers(part: dict[str, Any]) -> list[str]:
    lines = ["## 11. Peers in-process: Extism", ""]
    if "found" not in part:
        return [*lines, f"> **Not measured.** {part.get('error', 'not run')}", ""]
    config = part["config"]
    lines += [
        f"A hello in-process, {config['repetitions']} × {config['calls_per_repetition']} calls "
        f"after {config['warmup']} warm-up. pyjinn: `guests/hello.c`, a fresh sandbox each call "
        "with every limit on (as in part 1). Extism: `guests/extism_hello.wat` through the Python "
        "SDK, one plugin reused, and a plugin created per call from the compiled plugin.",
        "",
        "| call | p50 µs | p99 µs | p50 range over repetitions |",
        "|---|---|---|---|",
    ]
    rows = {}
    if "pyjinn_hello" in part:
        rows["pyjinn hello, fresh sandbox per call"] = part["pyjinn_hello"]
    if "extism" in part:
        rows[f"Extism {part['extism']['version']}, plugin reused"] = part["extism"]["reused"]
        rows["Extism, plugin created per call"] = part["extism"]["fresh_per_call"]
    for label, figures in rows.items():
        total, spread = figures["total_us"], figures["p50_us_per_repetition"]
        lines.append(
            f"| {label} | {total['p50']:.1f} | {total['p99']:.1f} | "
            f"{spread['min']:.1f}–{spread['max']:.1f} |"
        )
    for name, value in part.get("ratios", {}).items():
        lines.append(f"\nTime per call, {name}: **{value:.2f}×** (below 1: pyjinn is faster).")
    lines += ["", "| peer | found |", "|---|---|"]
    for name, entry in part["found"].items():
        lines.append(f"| {name} | {entry.get('path') or 'skipped: ' + entry['skipped']} |")
    return [*lines, ""]


def _coldstart(part: dict[str, Any]) -> list[str]:
    if "pyjinn_up" not in part:
        return []
    up, interpreter = part["pyjinn_up"], part["interpreter"]
    lines = [
        "## 3. Cold start",
        "",
        "| what | median ms | range |",
        "|---|---|---|",
    ]
    for label, figure in (
        ("`pyjinn up --workers 1`: start to first 200", up["workers_1"]),
        ("`pyjinn up` (default workers): start to first 200", up["workers_default"]),
        ("`python -c pass`", interpreter["python_pass_ms"]),
        ("python importing pyjinn's server modules", interpreter["python_imports_ms"]),
    ):
        lines.append(
            f"| {label} | {figure['median']:.1f} | {figure['min']:.1f}–{figure['max']:.1f} |"
        )
    lines += [
        "",
        "| module | size | compile ms | first hit, no cache | cached load | first hit, AOT cache |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in part["modules"].items():
        if "skipped" in figures:
            lines.append(f"| {name} | skipped: {figures['skipped']} | | | | |")
            continue
        lines.append(
            f"| {name} | {figures['bytes']:,} B | {figures['compile_ms']['median']:.1f} | "
            f"{figures['first_hit_uncached_ms']['median']:.1f} ms | "
            f"{figures['cached_load_ms']['median']:.2f} ms | "
            f"{figures['first_hit_cached_ms']['median']:.2f} ms |"
        )
    return [*lines, ""]


def _density(part: dict[str, Any]) -> list[str]:
    if "functions" not in part:
        return []
    lines = [
        "## 4. Density",
        "",
        "| functions | start | ready after | idle after | worker RSS | worker PSS "
        "| all processes PSS | first hit p50 (max), just started | first hit p50 (max), idle |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for count, figures in part["functions"].items():
        for label in ("uncached", "cached"):
            f = figures[label]
            idle = f.get("idle_after_seconds")
            early, hit = f["first_hit_just_started_ms"], f["first_hit_ms"]
            lines.append(
                f"| {int(count):,} | {label} | {f['startup_seconds']:.2f} s | "
                f"{'not within 20 s' if idle is None else f'{idle:.1f} s'} | "
                f"{f['worker_rss_bytes'] / MiB:.0f} MiB | {f['worker_pss_bytes'] / MiB:.0f} MiB | "
                f"{f['all_processes_pss_bytes'] / MiB:.0f} MiB | "
                f"{early['p50']:.2f} ms ({early['max']:.2f}) | "
                f"{hit['p50']:.2f} ms ({hit['max']:.2f}) |"
            )
    flight = part.get("in_flight")
    if flight:
        lines += [
            "",
            f"In flight: {flight['requests']} simultaneous requests to a function sleeping "
            f"{flight['sleep_seconds']:g} s (pool_size {flight['pool_size']}, max_instances "
            f"{flight['max_instances']}): **{flight['ok']} answered 200**, {flight['non_2xx']} "
            f"did not; peak in flight {flight['peak_in_flight']} (guests asleep at the same "
            f"moment); every request sent after {flight.get('all_sent_after_seconds', 0):.2f} s, "
            f"all answered after {flight['seconds']:.2f} s.",
        ]
    return [*lines, ""]


def _scaling(part: dict[str, Any]) -> list[str]:
    variants = part.get("variants", {})
    if "pyjinn_hello_2_workers" not in variants or "pyjinn_hello" not in variants:
        return []
    one, two = variants["pyjinn_hello"], variants["pyjinn_hello_2_workers"]
    value = part["ratios"]["pyjinn_hello_2_workers/pyjinn_hello"]
    return [
        "## 5. Scaling",
        "",
        f"pyjinn hello, c=50: 1 worker {one['requests_per_second']['median']:,.0f} req/s, 2 "
        f"workers "
        f"{two['requests_per_second']['median']:,.0f} req/s: **{value['median']:.2f}×** "
        f"(runs {value['min']:.2f}–{value['max']:.2f}). The machine has 2 cores, and wrk takes "
        f"part "
        "of one.",
        "",
    ]


def _observability(part: dict[str, Any]) -> list[str]:
    lines = ["## 6. Observability cost", ""]
    if part.get("status") != "measured":
        return [*lines, f"> **Not measured.** {part.get('placeholder') or part.get('error')}", ""]
    lines += ["| variant | req/s | p50 ms | p99 ms | non-2xx |", "|---|---|---|---|---|"]
    for figures in part["variants"].values():
        lines.append(
            f"| {figures['label']} | {figures['requests_per_second']['median']:,.0f} | "
            f"{figures['p50_ms']['median']:.2f} | {figures['p99_ms']['median']:.2f} | "
            f"{figures['non_2xx']} |"
        )
    lines += ["", "| ratio (req/s) | median | range over runs |", "|---|---|---|"]
    for name, value in part["ratios"].items():
        lines.append(f"| {name} | {value['median']:.2f}× | {value['min']:.2f}–{value['max']:.2f} |")
    lines += [
        "",
        f"Metrics: {part.get('metrics', 'n/a')}; admin /metrics answered "
        f"{part.get('admin_metrics_status')}. Instrumented files: "
        f"{', '.join(part.get('instrumented_files', []))}.",
    ]
    return [*lines, ""]


def _ai(part: dict[str, Any]) -> list[str]:
    lines = ["## 8. AI paths", ""]
    if "semantic_cache" not in part:
        return [*lines, f"> **Not measured.** {part.get('error', 'not run')}", ""]
    cache, route, mcp = part["semantic_cache"], part["routing"], part["mcp"]
    lines += ["| measurement | p50 | p99 |", "|---|---|---|"]
    lines.append(
        f"| semantic cache lookup, {cache['entries']:,} entries | "
        f"{cache['lookup_us']['p50'] / 1000:.2f} ms | {cache['lookup_us']['p99'] / 1000:.2f} ms |"
    )
    embedded = cache["lookup_with_embedding_us"]
    lines.append(
        f"| the same, with the question's embedding | {embedded['p50'] / 1000:.1f} ms | "
        f"{embedded['p99'] / 1000:.1f} ms |"
    )
    lines.append(
        f"| routing decision, {route['targets']} targets (embedding included) | "
        f"{route['decision_ms']['p50']:.1f} ms | {route['decision_ms']['p99']:.1f} ms |"
    )
    if "mcp_us" in mcp:
        for label, key in (("HTTP POST to the function", "http_us"), ("MCP tools/call", "mcp_us")):
            lines.append(
                f"| {label} (1 worker, kept-alive connection) | {mcp[key]['p50'] / 1000:.2f} ms "
                f"| {mcp[key]['p99'] / 1000:.2f} ms |"
            )
    else:
        lines.append(f"| MCP vs HTTP | {mcp.get('skipped')} | |")
    return [*lines, ""]


def _egress(part: dict[str, Any]) -> list[str]:
    lines = ["## 10. Outbound HTTP", ""]
    if "host_call_us" not in part:
        return [*lines, f"> **Not measured.** {part.get('error', 'not run')}", ""]
    lines += [
        f"One GET to a loopback server ({part['upstream']}), kept-alive connection.",
        "",
        "| measurement | p50 | p99 |",
        "|---|---|---|",
    ]
    for label, key in (
        ("directly with httpx, from Python", "direct_httpx_us"),
        ("pyjinn's egress client, from Python", "egress_client_us"),
        ("`http_request` from a guest: the host call", "host_call_us"),
        ("that guest's whole invocation (fresh sandbox)", "guest_invocation_us"),
        ("the empty function's invocation", "noop_invocation_us"),
    ):
        lines.append(f"| {label} | {part[key]['p50']:.0f} µs | {part[key]['p99']:.0f} µs |")
    lines += [
        "",
        f"A call through the host costs {part['overhead_us_p50']:+.0f} µs at the median against a "
        "direct httpx call.",
    ]
    return [*lines, ""]


def _languages(part: dict[str, Any]) -> list[str]:
    if "languages" not in part:
        return []
    config = part["config"]
    lines = [
        "## 9. A hello in each guest language, in-process",
        "",
        f"Fresh sandbox per call, limits on ({config['limits']}), AOT cache warm; "
        f"{config['repetitions']} × {config['invocations_per_repetition']} calls after "
        f"{config['warmup']} warm-up. Python: the module is the function's source, run by the "
        "interpreter (its size beside it), starting each request from a memory image of the "
        "prepared interpreter.",
        "",
        "| language | p50 ms | p99 ms | instantiate µs | run µs | module bytes | build s | "
        "first load s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in part["languages"].items():
        phases = figures["phases_us"]
        module = f"{figures['module_bytes']:,}"
        if "interpreter_bytes" in figures:
            module += (
                f" (+ interpreter {figures['interpreter_bytes'] / MiB:.0f} MiB; image "
                f"{figures['image_bytes'] / MiB:.1f} MiB in {figures['image_runs']} runs)"
            )
        lines.append(
            f"| {name} | {figures['total_us']['p50'] / 1000:.2f} | "
            f"{figures['total_us']['p99'] / 1000:.2f} | {_us(phases['instantiate'])} | "
            f"{_us(phases['run'])} | {module} | {figures['build_seconds']:.1f} | "
            f"{figures['first_load_seconds']:.2f} |"
        )
    for name, reason in part.get("skipped", {}).items():
        lines.append(f"| {name} | skipped: {reason} | | | | | | |")
    return [*lines, ""]
