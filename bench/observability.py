"""Part 6: what metrics and tracing cost per request.

The hello function runs under ``pyjinn up --workers 1`` servers that differ in one setting,
measured like the other HTTP variants: ``tracing off``; tracing every request (``sample 1``) to
a stand-in OTLP collector (bench/fronts/otlp_sink); tracing a tenth of new traces
(``sample 0.1``, a common production setting) to the same collector; and logging at ``info``,
where pyjinn writes one access record per request. Every server logs to a file. Metrics have no
switch: they are always on, so every pyjinn figure of the suite includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import http, load, processes
from bench.guests import Guests
from bench.processes import Server
from bench.stats import ratio

PACKAGE = Path(__file__).resolve().parent.parent / "pyjinn"
MARKERS = ("opentelemetry", "prometheus")


def instrumentation() -> list[str]:
    """Source files of pyjinn, outside the config package, that use a metrics/tracing library."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "config" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text(errors="replace")
        if any(marker in text for marker in MARKERS):
            found.append(str(path.relative_to(PACKAGE.parent)))
    return found


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    users = instrumentation()
    if not load.wrk_available() or guests.hello is None:
        return {"status": "skipped", "placeholder": "needs wrk and the C hello guest"}
    sink_port = processes.free_port()
    servers: dict[str, Server] = {
        "sink": processes.spawn(
            "otlp_sink",
            processes.python_command("-m", "bench.fronts.otlp_sink", str(sink_port)),
            sink_port,
            run_dir,
        )
    }
    settings = {
        "tracing_off": ("tracing off", "warning"),
        "tracing_on": (
            f"tracing otlp http://127.0.0.1:{sink_port} {{\n\t\tsample 1\n\t}}",
            "warning",
        ),
        "tracing_sampled": (
            f"tracing otlp http://127.0.0.1:{sink_port} {{\n\t\tsample 0.1\n\t}}",
            "warning",
        ),
        "access_log": ("tracing off", "info"),
    }
    for name, (option, log_level) in settings.items():
        port, admin = processes.free_port(), processes.free_port()
        directory = run_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        caddyfile = directory / "Caddyfile"
        caddyfile.write_text(
            f"{{\n\tadmin 127.0.0.1:{admin}\n\tdata_dir ./data\n\t{option}\n}}\n"
            f"127.0.0.1:{port} {{\n\thandle /hello {{\n\t\tpyjinn {guests.hello}\n\t}}\n}}\n"
        )
        servers[name] = processes.pyjinn_up(
            name, caddyfile, port, admin, run_dir, workers=1, log_level=log_level
        )
    variants = [
        http.Variant("tracing_off", "pyjinn hello, tracing off", "tracing_off", "/hello"),
        http.Variant("tracing_on", "pyjinn hello, every request traced", "tracing_on", "/hello"),
        http.Variant(
            "tracing_sampled",
            "pyjinn hello, tracing 1 in 10 new traces",
            "tracing_sampled",
            "/hello",
        ),
        http.Variant(
            "access_log", "pyjinn hello, log level info (access records)", "access_log", "/hello"
        ),
    ]
    seconds, warmup, repetitions = http.timing(quick)
    metrics_status = None
    try:
        runs = http.run_alternating(servers, variants, seconds, warmup, repetitions, echo)
        admin_port = servers["tracing_on"].admin_port
        if admin_port is not None:
            metrics_status, _ = processes.request("GET", admin_port, "/metrics")
    finally:
        for server in servers.values():
            server.stop()
    skipped: dict[str, str] = {}
    results = http.summarize(variants, runs, skipped)
    return {
        "status": "measured",
        "instrumented_files": users,
        "admin_metrics_status": metrics_status,
        "variants": results,
        "ratios": {
            "tracing_on/tracing_off": ratio(
                results["tracing_on"]["requests_per_second"]["runs"],
                results["tracing_off"]["requests_per_second"]["runs"],
            ),
            "tracing_sampled/tracing_off": ratio(
                results["tracing_sampled"]["requests_per_second"]["runs"],
                results["tracing_off"]["requests_per_second"]["runs"],
            ),
            "access_log/tracing_off": ratio(
                results["access_log"]["requests_per_second"]["runs"],
                results["tracing_off"]["requests_per_second"]["runs"],
            ),
        },
        "metrics": "always on (no switch): included in every pyjinn figure",
        "skipped": skipped,
    }
