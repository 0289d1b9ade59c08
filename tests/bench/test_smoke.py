"""The benchmark suite runs end to end in quick mode and writes well-formed results.

No timing is asserted here or anywhere in the tests: the suite measures, it does not judge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "environment", "guests", "inprocess", "http", "coldstart", "density", "observability", "jobs",
    "ai", "languages", "egress", "peers",
)  # fmt: skip
PEER_VARIANTS = (
    "wasmtime_serve_hello", "workerd_js_hello", "workerd_js_workload", "workerd_wasm_hello",
    "workerd_wasm_workload",
)  # fmt: skip


def numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    return []


def test_quick_run_writes_json_markdown_and_charts(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the bench extra is not installed")
    pytest.importorskip("ziglang", reason="the build extra is not installed")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    [json_path] = tmp_path.glob("*.json")
    results = json.loads(json_path.read_text())
    for section in SECTIONS:
        assert section in results, section
        assert "error" not in results[section], results[section]
    assert results["meta"]["mode"] == "quick"
    assert all(n >= 0 for n in numbers(results["inprocess"]))
    for name, guest in results["inprocess"]["guests"].items():
        assert guest["total_us"]["p50"] > 0, name
        assert all(phase["p50"] > 0 for phase in guest["phases_us"].values()), name
    assert results["inprocess"]["key_value"]["host_calls_us"]["kv_get"]["p50"] > 0
    assert results["egress"]["host_call_us"]["p50"] > 0
    assert results["egress"]["direct_httpx_us"]["p50"] > 0
    storage = results["inprocess"]["storage"]
    assert storage["sql_point_query"]["host_calls_us"]["db_query"]["p50"] > 0
    assert storage["blob_get_4kib"]["host_calls_us"]["blob_get"]["p50"] > 0
    if shutil.which("wrk"):
        variants = results["http"]["variants"]
        assert {"bare_asgi", "pyjinn_hello", "pyjinn_workload"} <= set(variants)
        for name, variant in variants.items():
            assert variant["requests_per_second"]["median"] > 0, name
            assert variant["p99_ms"]["median"] > 0, name
            assert variant["cpu_us_per_request"]["median"] > 0, name
            assert variant["non_2xx"] == 0, name
        for name in PEER_VARIANTS:  # measured, or skipped with the reason
            assert name in variants or results["http"]["skipped"][name], name
        assert all(value["median"] > 0 for value in results["http"]["ratios"].values())
    else:
        assert "wrk" in results["http"]["skipped"]
    coldstart = results["coldstart"]
    assert coldstart["pyjinn_up"]["workers_1"]["median"] > 0
    assert coldstart["modules"]["c"]["first_hit_cached_ms"]["median"] > 0
    functions = results["density"]["functions"]["100"]
    for start in ("uncached", "cached"):
        assert functions[start]["worker_rss_bytes"] > 0
        assert functions[start]["first_hit_ms"]["p50"] > 0
    languages = results["languages"]
    for name, figures in languages["languages"].items():
        assert figures["total_us"]["p50"] > 0, name
        assert figures["module_bytes"] > 0, name
    assert set(languages["languages"]) | set(languages["skipped"]) == {
        "c",
        "zig",
        "rust",
        "go",
        "assemblyscript",
        "python",
    }
    in_flight = results["density"]["in_flight"]
    assert in_flight["ok"] == in_flight["requests"] == 100
    assert in_flight["peak_in_flight"] > 0
    observability = results["observability"]
    if shutil.which("wrk"):
        assert set(observability["ratios"]) == {
            "tracing_on/tracing_off",
            "tracing_sampled/tracing_off",
            "access_log/tracing_off",
        }
    else:
        assert observability["status"] == "skipped"
    ai = results["ai"]
    assert ai["semantic_cache"]["entries"] == 10_000
    assert ai["semantic_cache"]["lookup_us"]["p50"] > 0
    assert ai["routing"]["decision_ms"]["p50"] > 0
    assert ai["mcp"]["mcp_us"]["p50"] > 0 and ai["mcp"]["http_us"]["p50"] > 0
    peers = results["peers"]
    assert set(peers["found"]) == {"node", "jco_transpile", "workerd", "extism"}
    if "extism" in peers:
        assert peers["extism"]["reused"]["total_us"]["p50"] > 0
        assert peers["extism"]["fresh_per_call"]["total_us"]["p50"] > 0
    else:
        assert "pip install" in peers["skipped"]["extism"]
    assert len(results["targets"]) == 25
    by_key = {row["key"]: row for row in results["targets"]}
    if "wrk" not in results["http"]["skipped"]:
        overshoot = results["http"]["timeout_overshoot_ms"]
        assert overshoot["n"] == 5 and overshoot["min"] > -10, overshoot  # stopped, not early
        assert by_key["timeout_overshoot"]["value"] is not None
        syscalls = results["http"]["syscalls_per_request"]
        if shutil.which("strace"):
            assert syscalls["calls"] > syscalls["requests"] > 0, syscalls
            assert by_key["hello_syscalls"]["value"] == syscalls["per_request"]
        else:
            assert "strace" in syscalls["skipped"]
        jobs = results["jobs"]["workers_1"]
        assert jobs["jobs_per_second"]["median"] > 0
        assert all(run["succeeded"] >= run["enqueued"] > 0 for run in jobs["runs"])
    for key in ("sql_point_query_p50", "blob_get_p50"):
        assert by_key[key]["value"] > 0, key

    markdown = (tmp_path / "latest.md").read_text()
    assert markdown == json_path.with_suffix(".md").read_text()
    assert "## Targets" in markdown
    assert markdown.count("quick run: indicative only") >= 1
    charts = sorted(tmp_path.glob("*.png"))
    assert len(charts) >= 3
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
        assert chart.name in markdown
