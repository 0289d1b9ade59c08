"""Part 4: density — many functions in one process, many instances in flight.

Functions: N distinct small modules (bench/guests/density.wat with its number in its data and
a global, so every module has its own bytes and compiled code), one route each, served by
``pyjinn up --workers 1``. Started twice: first with an empty compile cache (uncached: every
module is compiled), then again on the filled cache (cached). Each time: start-up (process
start until the worker answers on the site; it serves only once every module is loaded);
the latency of the first request to a few functions never called before, at once; then, once
the worker has gone idle (under 10% of a core over half a second, waiting at most 20 s),
memory (RSS and PSS of the worker and of all pyjinn processes) and the first request to more
functions never called before. Every request is on a new connection; the routes are spread
from the first to the last. The "first hit" target is judged on the idle worker: right after
start, a worker may still be busy with start-up work (the report shows both).

Readiness is taken from the site (the worker serves only once every module is loaded), which
does not depend on the admin process; the worker's pid comes from ``/status``, or from the
process tree (the largest child of the supervisor) if the admin process lists no workers, and
the results say which.

In flight: one function that sleeps a second (WASI ``poll_oneoff``), ``pool_size`` and
``max_instances`` large enough, and that many requests sent at once on as many connections.
Each answer carries the guest's clock before and after its sleep, so the peak number of
instances asleep at the same moment is counted from the guests' own intervals.
"""

from __future__ import annotations

import asyncio
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import processes
from bench.guests import SLEEP_SECONDS, SOURCES, Guests, assemble
from bench.stats import distribution

FIRST_HITS = 24  # routes hit per start: a quarter at once, the rest once idle


def write_functions(directory: Path, count: int, port: int, admin_port: int) -> Path:
    """``count`` distinct modules and a Caddyfile routing ``/f/N`` to each."""
    modules = directory / "functions"
    modules.mkdir(parents=True, exist_ok=True)
    template = (SOURCES / "density.wat").read_text()
    routes = []
    for index in range(count):
        body = f'{{"status":200,"body":"function {index}"}}'
        text = (
            template.replace("function INDEX", f"function {index}")
            .replace("INDEX", str(index))
            .replace("LENGTH", str(len(body)))
        )
        (modules / f"f{index}.wasm").write_bytes(assemble(text))
        routes.append(f"\thandle /f/{index} {{\n\t\tpyjinn functions/f{index}.wasm\n\t}}\n")
    caddyfile = directory / "Caddyfile"
    caddyfile.write_text(
        f"{{\n\tadmin 127.0.0.1:{admin_port}\n\tdata_dir ./data\n}}\n"
        f'127.0.0.1:{port} {{\n{"".join(routes)}\trespond /ready "ok" 200\n}}\n'
    )
    return caddyfile


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    counts = (100,) if quick else (1000, 10000)
    result: dict[str, Any] = {"functions": {}}
    for count in counts:
        directory = run_dir / f"density_{count}"
        port, admin = processes.free_port(), processes.free_port()
        started = time.perf_counter()
        caddyfile = write_functions(directory, count, port, admin)
        figures: dict[str, Any] = {"generate_seconds": time.perf_counter() - started}
        hits = _targets(count)
        for label in ("uncached", "cached"):
            if label == "uncached":
                shutil.rmtree(directory / "data", ignore_errors=True)
            batch = hits[0::2] if label == "uncached" else hits[1::2]  # both spread out
            figures[label] = serve_many(caddyfile, directory, port, admin, batch)
            echo(
                f"  {count} functions ({label}): ready in "
                f"{figures[label]['startup_seconds']:.1f} s, "
                f"worker RSS {figures[label]['worker_rss_bytes'] / 2**20:.0f} MiB, first hit p50 "
                f"{figures[label]['first_hit_ms']['p50']:.2f} ms"
            )
        figures["cache_bytes"] = sum(
            f.stat().st_size for f in (directory / "data").rglob("*.cwasm")
        )
        result["functions"][str(count)] = figures
        shutil.rmtree(directory, ignore_errors=True)
    in_flight = 100 if quick else 1000
    result["in_flight"] = concurrent_sleepers(guests, run_dir / "in_flight", in_flight)
    echo(
        f"  {in_flight} in flight: {result['in_flight']['ok']} ok, peak in flight "
        f"{result['in_flight']['peak_in_flight']}, all answered in "
        f"{result['in_flight']['seconds']:.2f} s"
    )
    return result


def _targets(count: int) -> list[int]:
    """Routes to hit once each, spread from the first to the last."""
    wanted = min(2 * FIRST_HITS, count)
    return sorted({round(i * (count - 1) / max(1, wanted - 1)) for i in range(wanted)})


def serve_many(
    caddyfile: Path, directory: Path, port: int, admin: int, hits: list[int]
) -> dict[str, Any]:
    server = processes.pyjinn_up("density", caddyfile, port, admin, directory, workers=1)
    early, later = hits[::4], [index for index in hits if index not in hits[::4]]
    try:
        startup = processes.wait_until_ok(server, "/ready", timeout=900)
        just_started = first_hits(port, early)
        worker_pids, found_by = worker_processes(server)
        settled = processes.wait_until_idle(worker_pids[0])
        worker = [processes.memory(pid) for pid in worker_pids]
        everything = [processes.memory(pid) for pid in server.pids()]
        latencies = first_hits(port, later)
    finally:
        server.stop(timeout=60)
    return {
        "startup_seconds": startup,
        "first_hit_just_started_ms": distribution(just_started),
        "idle_after_seconds": settled,
        "worker_rss_bytes": sum(m["rss"] for m in worker),
        "worker_pss_bytes": sum(m["pss"] for m in worker),
        "worker_found_by": found_by,
        "all_processes_pss_bytes": sum(m["pss"] for m in everything),
        "processes": len(everything),
        "first_hit_ms": distribution(latencies),
        "first_hit_routes": later,
    }


def first_hits(port: int, routes: list[int]) -> list[float]:
    """Milliseconds for one request to each of ``routes``, in turn, on a new connection each."""
    latencies = []
    for index in routes:
        began = time.perf_counter()
        status, body = processes.request("GET", port, f"/f/{index}")
        latencies.append((time.perf_counter() - began) * 1000)
        if status != 200 or f"function {index}".encode() not in body:
            raise RuntimeError(f"/f/{index} answered {status}: {body[:200]!r}")
    return latencies


def worker_processes(server: processes.Server) -> tuple[list[int], str]:
    """The worker pids from the admin API, or else the supervisor's largest child."""
    try:
        workers = [worker["pid"] for worker in server.status()["workers"]]
    except (OSError, RuntimeError, ValueError, KeyError):
        workers = []
    if workers:
        return workers, "admin /status"
    children = processes.children(server.process.pid)
    largest = max(children, key=lambda pid: processes.memory(pid)["rss"])
    return [largest], "largest child process (the admin API listed no workers)"


def concurrent_sleepers(guests: Guests, directory: Path, count: int) -> dict[str, Any]:
    """``count`` requests at once to a function that sleeps; every answer's status."""
    directory.mkdir(parents=True, exist_ok=True)
    port, admin = processes.free_port(), processes.free_port()
    instances = max(1000, count)
    caddyfile = directory / "Caddyfile"
    caddyfile.write_text(
        f"{{\n\tadmin 127.0.0.1:{admin}\n\tdata_dir ./data\n\tmax_instances {instances}\n}}\n"
        f"127.0.0.1:{port} {{\n\thandle /sleep {{\n\t\tpyjinn {guests.sleep} {{\n"
        f"\t\t\tpool_size {count}\n\t\t\tpool_wait 30s\n\t\t\ttimeout 30s\n\t\t}}\n\t}}\n}}\n"
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * count + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the server inherits it too
    server = processes.pyjinn_up("in_flight", caddyfile, port, admin, directory, workers=1)
    try:
        processes.wait_until_ok(server, "/sleep")
        started = time.perf_counter()
        answers, sent = asyncio.run(_fire(port, count))
        seconds = time.perf_counter() - started
    finally:
        server.stop(timeout=60)
    statuses = [status for status, _ in answers]
    intervals = [interval for _, interval in answers if interval is not None]
    return {
        "requests": count,
        "ok": sum(1 for status in statuses if status == 200),
        "non_2xx": sum(1 for status in statuses if not 200 <= status < 300),
        "peak_in_flight": peak_overlap(intervals),
        # How long the client took to have every request written: if this is short and the
        # peak is below the count, the server admitted the invocations more slowly.
        "all_sent_after_seconds": sent,
        "seconds": seconds,
        "sleep_seconds": SLEEP_SECONDS,
        "max_instances": instances,
        "pool_size": count,
    }


def peak_overlap(intervals: list[tuple[int, int]]) -> int:
    """The largest number of ``(start, end)`` intervals that overlap at one moment."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    peak = current = 0
    for _, change in events:
        current += change
        peak = max(peak, current)
    return peak


async def _fire(port: int, count: int) -> tuple[list[tuple[int, tuple[int, int] | None]], float]:
    """Open ``count`` connections and send one request on each at once; each answer's status
    and the guest's (start, end) clock readings, and the seconds until all were sent."""
    request = f"GET /sleep HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()

    sent: list[float] = []
    began = time.perf_counter()

    async def one() -> tuple[int, tuple[int, int] | None]:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            sent.append(time.perf_counter())
            answer = await reader.read()
            writer.close()
        except OSError:
            return 0, None
        head, _, body = answer.partition(b"\r\n\r\n")
        fields = head.split(b" ", 2)
        status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
        clocks = body.split()
        if status != 200 or len(clocks) != 2 or not all(c.isdigit() for c in clocks):
            return status, None
        return status, (int(clocks[0]), int(clocks[1]))

    answers = list(await asyncio.gather(*(one() for _ in range(count))))
    return answers, (max(sent) - began) if sent else 0.0
