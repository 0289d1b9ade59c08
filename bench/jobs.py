"""Part 6: jobs end to end, against synchronous invocations of the same function.

For 1 and 2 workers, under ``pyjinn up`` with its embedded nats-server and the C hello:

- ``sync``: ``wrk -c50`` on ``GET /hello``, as in part 2;
- ``jobs``: ``wrk -c50`` on the same route with ``X-Pyjinn-Async: true`` (each request stores a
  job and is answered 202), then the clock runs until the server's ``pyjinn_jobs_total``
  counter says every job stored has succeeded: jobs per second end to end is the jobs stored
  divided by the time from the first enqueue to the last success;
- ``start delay``: at a steady 100 jobs a second (well under capacity), the time from each job
  being stored to its attempt starting, from the job records (``started - created``).

Each variant runs ``repetitions`` times, alternating sync and jobs; ratios are of medians.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import load, processes
from bench.guests import Guests
from bench.processes import Server
from bench.stats import distribution, ratio, spread

STEADY_RATE = 100  # jobs a second for the start-delay measurement


def caddyfile(directory: Path, guests: Guests, port: int, admin_port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = (
        f"{{\n\tadmin 127.0.0.1:{admin_port}\n\tdata_dir {directory / 'data'}\n}}\n"
        f"127.0.0.1:{port} {{\n\thandle /hello {{\n\t\tpyjinn {guests.hello}\n\t}}\n"
        '\trespond /healthz "ok" 200\n}\n'
    )
    path = directory / "Caddyfile"
    path.write_text(text)
    return path


def succeeded(server: Server) -> float:
    """The server's count of jobs that succeeded (every worker's, from the admin metrics)."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.admin_port}/metrics", timeout=10
    ) as answer:
        text = answer.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("pyjinn_jobs_total{") and 'event="succeeded"' in line
    )


def jobs_run(server: Server, seconds: float) -> dict[str, Any]:
    """Enqueue for ``seconds`` at c=50, then wait for every job: jobs/s end to end."""
    before = succeeded(server)
    started = time.perf_counter()
    figures = load.run(load.Load(f"{server.url}/hello", header="X-Pyjinn-Async: true"), seconds)
    stored = figures["responses"] - figures["non_2xx"]  # each 2xx (202) stored a job
    deadline = time.perf_counter() + 300
    while succeeded(server) - before < stored and time.perf_counter() < deadline:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    done = succeeded(server) - before
    return {
        "enqueued": stored,
        "succeeded": done,
        "enqueue_per_second": figures["requests_per_second"],
        "jobs_per_second": done / elapsed,
        "non_2xx": figures["non_2xx"],
    }


def start_delays(server: Server, seconds: float) -> dict[str, Any]:
    """Jobs at a steady rate; the time from each being stored to its attempt starting (ms)."""
    ids = []
    interval = 1.0 / STEADY_RATE
    next_at = time.perf_counter()
    for _ in range(int(seconds * STEADY_RATE)):
        request = urllib.request.Request(
            f"{server.url}/hello", headers={"X-Pyjinn-Async": "true"}, method="GET"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            ids.append(json.loads(answer.read())["job_id"])
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    time.sleep(1.0)
    delays = []
    for job_id in ids:
        with urllib.request.urlopen(f"{server.url}/_pyjinn/jobs/{job_id}", timeout=10) as answer:
            record = json.loads(answer.read())
        if "started" in record:
            delays.append((record["started"] - record["created"]) * 1000)
    return distribution(delays)


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    if not load.wrk_available():
        message = f"wrk is not installed, so the job benchmarks were skipped; {load.INSTALL_HINT}"
        echo(f"  {message}")
        return {"skipped": message}
    if guests.hello is None:
        return {"skipped": guests.skipped.get("c", "no C toolchain")}
    seconds, repetitions = (1.0, 1) if quick else (5.0, 3)
    results: dict[str, Any] = {"config": {"connections": 50, "seconds": seconds}}
    for workers in (1, 2):
        port, admin = processes.free_port(), processes.free_port()
        path = caddyfile(run_dir / f"jobs_{workers}", guests, port, admin)
        server = processes.pyjinn_up(f"jobs_{workers}", path, port, admin, run_dir, workers)
        try:
            processes.wait_until_ok(server, "/hello")
            load.run(load.Load(f"{server.url}/hello"), 1.0)  # warm-up
            sync_runs, job_runs = [], []
            for repetition in range(repetitions):
                sync = load.run(load.Load(f"{server.url}/hello"), seconds)
                sync_runs.append(sync["requests_per_second"])
                jobs = jobs_run(server, seconds)
                job_runs.append(jobs)
                echo(
                    f"  {workers} worker(s), run {repetition + 1}/{repetitions}: sync "
                    f"{sync['requests_per_second']:.0f} req/s, jobs {jobs['jobs_per_second']:.0f}"
                    f"/s end to end ({jobs['enqueued']} stored, {jobs['succeeded']:.0f} succeeded)"
                )
            delays = start_delays(server, 1.0 if quick else 5.0)
            echo(
                f"  {workers} worker(s): enqueue to start at {STEADY_RATE}/s: p50 "
                f"{delays['p50']:.1f} ms, p99 {delays['p99']:.1f} ms"
            )
        finally:
            server.stop()
        per_second = [run["jobs_per_second"] for run in job_runs]
        results[f"workers_{workers}"] = {
            "sync_requests_per_second": spread(sync_runs),
            "jobs_per_second": spread(per_second),
            "jobs_vs_sync": ratio(per_second, sync_runs),
            "start_delay_ms": delays,
            "runs": job_runs,
        }
    return results
