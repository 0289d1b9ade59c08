"""Load generation with ``wrk`` and the bench/load/report.lua script.

wrk is a closed-loop generator: each connection sends its next request when the previous one is
answered, so latency percentiles are those of the requests it managed to send (no correction for
coordinated omission). Responses that are not 2xx are counted by the script and reported next to
the throughput; they are never silently part of it.
"""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF003

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "load" / "report.lua"
INSTALL_HINT = "install it with: apt-get install -y wrk"


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Load:
    """How to load one endpoint."""

    url: str
    method: str = "GET"
    body: str = ""
    connections: int = 50
    threads: int = 1
    header: str = ""  # one more request header, "Name: value"


def run(load: Load, seconds: float, timeout: float = 10.0) -> dict[str, Any]:
    """Load ``load.url`` for ``seconds``; requests/s, latency percentiles (µs), non-2xx, errors."""
    environment = {
        **os.environ,
        "BENCH_METHOD": load.method,
        "BENCH_BODY": load.body,
        "BENCH_HEADER": load.header,
    }
    command = [
        "wrk",
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={timeout:g}s",
        "--latency",
        "-s",
        str(SCRIPT),
        load.url,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=seconds + 60
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH "):
            figures: dict[str, Any] = json.loads(line[len("BENCH ") :])
            break
    else:
        raise RuntimeError(f"wrk printed no result ({result.returncode}):\n{result.stderr}")
    seconds_run = figures["duration_us"] / 1e6
    latency = figures["latency_us"]
    errors = figures["errors"]
    return {
        "requests": figures["requests"],
        "responses": figures["responses"],
        # Throughput counts 2xx answers only; the rest are reported beside it.
        "requests_per_second": (figures["responses"] - figures["non_2xx"]) / seconds_run,
        "all_per_second": figures["responses"] / seconds_run,
        "non_2xx": figures["non_2xx"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "p50_ms": latency["p50"] / 1000,
        "p90_ms": latency["p90"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "max_ms": latency["max"] / 1000,
        "seconds": seconds_run,
    }
