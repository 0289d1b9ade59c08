"""Observability of a real ``pyjinn up`` with two workers: metrics aggregated across processes,
JSON logs, the stats API and command, and a guest that floods stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.helpers import abi_guest, wat_trapping
from tests.observability.metric_samples import Samples, parse, value
from tests.server.test_live import Server, start, wait_until

pytestmark = pytest.mark.slow

SITE = """
:PORT {
    handle /behave {
        pyjinn behave.wasm {
            timeout 1s
        }
    }
    handle /trap {
        pyjinn trap.wat
    }
    handle /denied {
        pyjinn denied.wat {
            permissions {
                kv_read users
            }
        }
    }
}
"""


@pytest.fixture
def server(tmp_path: Path, project, c_guest):
    project("behave.wasm", c_guest("behave"))
    project("trap.wat", wat_trapping("unreachable"))
    kv_get = '(import "pyjinn" "kv_get" (func $kv_get (param i32 i32) (result i64)))'
    denied = abi_guest(kv_get, ["(call $kv_get (i32.const 0) (i32.const 8))"], {0: "orders/1"})
    project("denied.wat", denied)
    running = start(tmp_path, SITE, workers=2)
    yield running
    running.stop()


def metrics(server: Server) -> Samples:
    return parse(httpx.get(f"{server.admin}/metrics", timeout=5).text)


def invocations_by_process(directory: Path) -> dict[str, float]:
    """Invocations each worker wrote to its own metrics file."""
    counts = {}
    for path in directory.glob("*/counter_*.db"):
        values = MmapedDict.read_all_values_from_file(str(path))
        total = sum(v for key, v, _, _ in values if "pyjinn_invocations_total" in key)
        counts[path.stem.split("_")[1]] = total
    return counts


def test_metrics_from_two_workers_add_up_exactly(server: Server, tmp_path: Path) -> None:
    def get(path: str) -> int:
        return httpx.get(f"{server.url}{path}", timeout=10).status_code

    paths = ["/behave"] * 40 + ["/trap"] * 12 + ["/denied"] * 6 + ["/behave?sleep_ms=5000"]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(get, paths))
    assert statuses.count(200) == 46 and statuses.count(502) == 12 and statuses.count(504) == 1

    def settled() -> bool:
        samples = metrics(server)
        return value(samples, "pyjinn_invocation_duration_seconds_count", function="behave") == 41

    wait_until(settled, timeout=10)
    samples = metrics(server)
    total = "pyjinn_invocations_total"
    assert value(samples, total, function="behave", outcome="ok", tenant="default") == 40
    assert value(samples, total, function="behave", outcome="timeout", tenant="default") == 1
    assert value(samples, total, function="trap", outcome="trap", tenant="default") == 12
    assert value(samples, total, function="denied", outcome="ok", tenant="default") == 6
    call = {"function": "denied", "capability": "kv", "call": "kv_get"}
    assert value(samples, "pyjinn_host_calls_total", **call, result="denied") == 6
    assert value(samples, "pyjinn_host_call_duration_seconds_count", **call) == 6
    for function, count in (("behave", 41), ("trap", 12), ("denied", 6)):
        assert (
            value(samples, "pyjinn_invocation_duration_seconds_count", function=function) == count
        )
        assert value(samples, "pyjinn_fuel_consumed_count", function=function) == count
        assert value(samples, "pyjinn_guest_memory_bytes_count", function=function) == count
        assert value(samples, "pyjinn_pool_wait_seconds_count", function=function) == count
        assert value(samples, "pyjinn_instances_in_flight", function=function) == 0
    # Each worker loaded the three modules once.
    loads = sum(value(samples, "pyjinn_module_loads_total", result=r) for r in ("hit", "miss"))
    assert loads == 6
    assert value(samples, "pyjinn_workers_ready") == 2
    served = invocations_by_process(tmp_path / "data" / "metrics")
    assert sum(served.values()) == 59
    assert sum(1 for count in served.values() if count) == 2, served  # both workers served

    stats = httpx.get(f"{server.admin}/stats", timeout=5).json()
    behave = stats["functions"]["behave"]
    assert (behave["requests"], behave["errors"]) == (41, 1)
    assert behave["outcomes"] == {"ok": 40, "timeout": 1}
    assert 0 < behave["p50_seconds"] < behave["p99_seconds"]

    # A dead worker's counters stay; its live gauges go with it.
    killed = server.worker_pids()[0]
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: killed not in server.worker_pids() and len(server.worker_pids()) == 2)
    wait_until(lambda: value(metrics(server), "pyjinn_workers_ready") == 2)
    after = metrics(server)
    assert value(after, total, function="trap", outcome="trap", tenant="default") == 12
    assert not list((tmp_path / "data" / "metrics").glob(f"*/gauge_livesum_{killed}.db"))


def test_pyjinn_stats_prints_a_table_of_every_function(server: Server) -> None:
    for _ in range(3):
        httpx.get(f"{server.url}/behave", timeout=10)
    # Workers write their metrics out about once a second; wait until the admin API has them.
    wait_until(
        lambda: "behave" in httpx.get(f"{server.admin}/stats", timeout=5).json()["functions"]
    )
    admin = server.admin.removeprefix("http://")
    shown = subprocess.run(
        [sys.executable, "-m", "pyjinn", "stats", "--admin", admin, "--once", "--interval", "0.2"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "req/s" in shown.stdout and "p99" in shown.stdout
    assert "behave" in shown.stdout
    unreachable = subprocess.run(
        [sys.executable, "-m", "pyjinn", "stats", "--admin", "127.0.0.1:1", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 1
    assert "is pyjinn up running?" in unreachable.stderr


def test_a_guest_flooding_stderr_stays_within_its_cap(server: Server) -> None:
    flooded = httpx.get(f"{server.url}/behave?stderr_mb=100", timeout=30)
    assert flooded.status_code in (200, 502)
    assert httpx.get(f"{server.url}/behave", timeout=10).text == "runs=1"
    assert httpx.get(f"{server.admin}/healthz", timeout=5).status_code == 200
    time.sleep(0.2)
    records = server.logs()
    from_flood = [
        r for r in records if r["logger"] == "pyjinn.guest" and r["message"].startswith("eee")
    ]
    assert 0 < len(from_flood) <= 100
    assert all(len(r["message"]) <= 4096 for r in from_flood)
    assert server.log.stat().st_size < 2 * 1024 * 1024


def test_every_log_line_is_json_with_its_context(server: Server) -> None:
    response = httpx.get(
        f"{server.url}/behave", headers={"traceparent": f"00-{'1' * 32}-{'2' * 16}-01"}
    )
    assert response.status_code == 200
    wait_until(lambda: any(r["logger"] == "pyjinn.access" for r in server.logs()))
    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "message", "logger"} <= set(r) for r in records)
    (access,) = [r for r in records if r["logger"] == "pyjinn.access"]
    assert access["function"] == "behave" and access["tenant"] == "default"
    assert access["trace_id"] == "1" * 32
    assert (access["method"], access["path"], access["status"]) == ("GET", "/behave", 200)
    assert access["outcome"] == "ok" and access["blame"] is None
    assert access["duration_ms"] > 0 and access["fuel"] > 0 and access["memory_bytes"] > 0
    guest = [r for r in records if r["logger"] == "pyjinn.guest"]
    assert guest and all(r["trace_id"] == "1" * 32 and r["function"] == "behave" for r in guest)
    assert "server-timing" in response.headers
