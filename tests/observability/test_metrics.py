"""Metrics after a known mix of traffic, scraped in Prometheus text form and checked exactly."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pyjinn.observability.metrics import (
    DURATION_BUCKETS,
    INVOCATIONS,
    REGISTRY,
    Histogram,
    ProcessCollector,
    Registry,
)
from tests.helpers import HELLO, KV_IMPORTS, abi_guest, wat_trapping, wat_writing
from tests.observability.guests import LOOP_FOREVER
from tests.observability.metric_samples import Samples, parse, value

pytestmark = pytest.mark.anyio

MIX = """
:8080 {
    handle /ok {
        pyjinn ok.wat
    }
    handle /trap {
        pyjinn trap.wat
    }
    handle /slow {
        pyjinn slow.wat {
            timeout 100ms
        }
    }
    handle /denied {
        pyjinn denied.wat {
            permissions {
                kv_read users
                kv_write users
            }
        }
    }
    handle /keyed {
        pyjinn ok.wat {
            name keyed
            api_key 0123456789abcdef0123 acme
        }
    }
}
"""


def scrape() -> Samples:
    """Every sample pyjinn exposes, by (name, sorted labels), through the text format."""
    registry = CollectorRegistry()
    registry.register(ProcessCollector())
    return parse(generate_latest(registry).decode())


@pytest.fixture
def mix_client(make_client, project):
    project("ok.wat", wat_writing(HELLO))
    project("trap.wat", wat_trapping("unreachable"))
    project("slow.wat", wat_trapping(LOOP_FOREVER))
    denied = abi_guest(KV_IMPORTS, ["(call $kv_get (i32.const 0) (i32.const 8))"], {0: "orders/1"})
    project("denied.wat", denied)
    return make_client(MIX)


async def test_a_known_mix_of_traffic_gives_exact_counters_and_histograms(mix_client) -> None:
    for _ in range(5):
        assert (await mix_client.get("/ok")).status_code == 200
    for _ in range(3):
        assert (await mix_client.get("/trap")).status_code == 502
    assert (await mix_client.get("/slow")).status_code == 504
    for _ in range(2):
        assert (await mix_client.get("/denied")).status_code == 200
    assert (await mix_client.get("/keyed")).status_code == 401
    keyed = await mix_client.get("/keyed", headers={"X-API-Key": "0123456789abcdef0123"})
    assert keyed.status_code == 200

    samples = scrape()
    invocations = "pyjinn_invocations_total"
    assert value(samples, invocations, function="ok", outcome="ok", tenant="default") == 5
    assert value(samples, invocations, function="trap", outcome="trap", tenant="default") == 3
    assert value(samples, invocations, function="slow", outcome="timeout", tenant="default") == 1
    assert value(samples, invocations, function="denied", outcome="ok", tenant="default") == 2
    # A refused request has no tenant: the label never comes from what a client sent.
    assert value(samples, invocations, function="keyed", outcome="unauthorized", tenant="") == 1
    assert value(samples, invocations, function="keyed", outcome="ok", tenant="acme") == 1
    for function, count in (("ok", 5), ("trap", 3), ("slow", 1), ("denied", 2), ("keyed", 2)):
        assert (
            value(samples, "pyjinn_invocation_duration_seconds_count", function=function) == count
        )
        # Pool waits and in-flight counts exist only for requests that reached a slot.
        reached = 1 if function == "keyed" else count
        assert value(samples, "pyjinn_pool_wait_seconds_count", function=function) == reached
        assert value(samples, "pyjinn_fuel_consumed_count", function=function) == reached
        assert value(samples, "pyjinn_guest_memory_bytes_count", function=function) == reached
        assert value(samples, "pyjinn_instances_in_flight", function=function) == 0
    assert value(samples, "pyjinn_guest_memory_bytes_sum", function="ok") == 5 * 65536
    host_calls = {"function": "denied", "capability": "kv", "call": "kv_get"}
    assert value(samples, "pyjinn_host_calls_total", **host_calls, result="denied") == 2
    assert value(samples, "pyjinn_host_call_duration_seconds_count", **host_calls) == 2
    # Every module loaded once (the two /ok routes share one compiled module).
    loads = value(samples, "pyjinn_module_loads_total", result="hit") + value(
        samples, "pyjinn_module_loads_total", result="miss"
    )
    assert loads == 4
    assert (
        value(samples, "pyjinn_module_load_seconds_count", result="miss")
        + value(samples, "pyjinn_module_load_seconds_count", result="hit")
        == loads
    )


async def test_a_timeout_is_observed_at_its_full_duration(mix_client) -> None:
    await mix_client.get("/slow")
    samples = scrape()
    name = "pyjinn_invocation_duration_seconds"
    assert value(samples, f"{name}_bucket", function="slow", le="0.05") == 0
    assert value(samples, f"{name}_bucket", function="slow", le="+Inf") == 1
    assert value(samples, f"{name}_sum", function="slow") >= 0.1


def test_histogram_buckets_are_less_than_or_equal() -> None:
    histogram = Histogram(DURATION_BUCKETS)
    for observation in (0.0, 0.0001, 0.00010001, 100.0):
        histogram.observe(observation)
    assert histogram.counts[0] == 2  # 0 and exactly the first bound
    assert histogram.counts[1] == 1
    assert histogram.counts[-1] == 1  # +Inf
    assert histogram.count == 4


def test_metrics_are_kept_per_function_name_across_reloads() -> None:
    assert REGISTRY.function("hello") is REGISTRY.function("hello")


def test_a_snapshot_since_the_last_one_leaves_out_functions_that_did_not_change() -> None:
    registry = Registry()
    for name in ("busy", "idle"):
        metrics = registry.function(name)
        metrics.count("ok", "default")
        metrics.duration.observe(0.01)
    written: dict[str, tuple[float, ...]] = {}

    def functions_in(snapshot) -> set[str]:
        return {labels[0] for family, labels, _ in snapshot if family is INVOCATIONS}

    assert functions_in(registry.snapshot(written)) == {"busy", "idle"}
    assert functions_in(registry.snapshot(written)) == set()
    registry.function("busy").count("ok", "default")
    registry.function("busy").duration.observe(0.02)
    assert functions_in(registry.snapshot(written)) == {"busy"}
    assert functions_in(registry.snapshot()) == {"busy", "idle"}  # a full snapshot has all
