"""Part 1: one invocation in-process, without HTTP.

Each guest runs through ``pyjinn.engine.invoke.invoke`` — the one door into wasm — in a fresh
sandbox every time, with every limit on (timeout, memory limit, fuel), configured through a
Caddyfile exactly as a served function is. We time each call from outside (wall clock around
``invoke``) and take ``Run.phases`` for the split: store and WASI setup, instantiation, the
guest's run, teardown.

The key-value case runs a guest that reads one key (``kv_get`` then ``result_read``) from a
real embedded nats-server; its "round trip from inside a function" is the guest-run phase,
which holds nothing but those two host calls. The dispatcher's own timing of the ``kv_get``
call (``HostCall.seconds``) is reported beside it. The storage cases are measured the same way:
a SQLite point query by primary key with a bound parameter (``db_query`` then ``result_read``),
and a 4 KiB object read from the embedded filesystem store (``blob_get`` then ``result_read``).

Languages: a hello in each guest language, written with its SDK (C's is plain stdio), timed the
same way (fresh sandbox per call, the module compiled once: the AOT cache warm), with the
module's size and build time.
"""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF002, RUF003

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.guests import Guests
from bench.stats import distribution, spread
from pyjinn.config import loads
from pyjinn.engine.invoke import Run, invoke
from pyjinn.runtime import Function, Runtime
from pyjinn.services import NatsConnection, Services
from pyjinn.services.nats import EmbeddedNats

LIMITS = "timeout 2s\n memory_limit 64MiB\n fuel_limit 100000000"
PHASES = ("setup", "instantiate", "run", "teardown")
REQUEST = json.dumps(
    {
        "method": "POST",
        "uri": "/api/echo?a=1",
        "path": "/api/echo",
        "query": {"a": ["1"]},
        "headers": {"Content-Type": ["application/json"], "User-Agent": ["bench"]},
        "body": '{"id":"1","value":100}',
        "remote_addr": "127.0.0.1:51234",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }
).encode()


def runtime_for(
    directory: Path, functions: dict[str, tuple[Path, str]], services: Services | None = None
) -> Runtime:
    """A runtime whose functions are ``name: (module, extra directives)``, all limits on."""
    blocks = "\n".join(
        f"\thandle /{name} {{\n\t\tpyjinn {path} {{\n name {name}\n {LIMITS}\n {extra}\n}}\n\t}}"
        for name, (path, extra) in functions.items()
    )
    text = f"{{\n\tadmin off\n\tdata_dir {directory / 'data'}\n}}\n127.0.0.1:9 {{\n{blocks}\n}}\n"
    runtime = Runtime(loads(text, base_dir=directory, environ={}), services=services)
    runtime.start()
    return runtime


def time_invocations(
    runtime: Runtime,
    function: Function,
    repetitions: int,
    count: int,
    warmup: int,
    tenant: str = "",
) -> dict[str, Any]:
    """Invoke ``function`` ``warmup`` times, then ``repetitions`` × ``count`` times, timed."""
    module, sandbox, engine = function.module, function.sandbox, runtime.engine
    for _ in range(warmup):
        _check(invoke(engine, module, sandbox, REQUEST, tenant=tenant), function.name)
    totals: list[float] = []
    phases: list[list[float]] = [[], [], [], []]
    host_calls: dict[str, list[float]] = {}
    per_repetition: list[float] = []
    for _ in range(repetitions):
        these: list[float] = []
        for _ in range(count):
            started = time.perf_counter_ns()
            run = invoke(engine, module, sandbox, REQUEST, tenant=tenant)
            these.append((time.perf_counter_ns() - started) / 1000)
            _check(run, function.name)
            for index, nanoseconds in enumerate(run.phases):
                phases[index].append(nanoseconds / 1000)
            for call in run.host_calls:
                host_calls.setdefault(call.call, []).append(call.seconds * 1e6)
        totals.extend(these)
        per_repetition.append(distribution(these)["p50"])
    result: dict[str, Any] = {
        "total_us": distribution(totals),
        "p50_us_per_repetition": spread(per_repetition),
        "phases_us": {
            name: distribution(values) for name, values in zip(PHASES, phases, strict=True)
        },
    }
    if host_calls:
        result["host_calls_us"] = {
            name: distribution(values) for name, values in host_calls.items()
        }
    return result


def time_runtime_calls(runtime: Runtime, function: Function, count: int) -> dict[str, Any]:
    """The same guest through ``Runtime.call``: a slot, the hand-over to a guest thread and back,
    one call at a time on an event loop (what a request pays on top of the invocation)."""

    async def calls() -> list[float]:
        for _ in range(min(count, 200)):
            await runtime.call(function, REQUEST)
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            run = await runtime.call(function, REQUEST)
            samples.append((time.perf_counter_ns() - started) / 1000)
            _check(run, function.name)
        return samples

    return {"total_us": distribution(asyncio.run(calls()))}


def measure(
    guests: Guests, directory: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    repetitions, count, warmup = (2, 200, 50) if quick else (5, 2000, 300)
    directory.mkdir(parents=True, exist_ok=True)
    functions = {"noop": (guests.noop, "")}
    if guests.echo is not None:
        functions["echo"] = (guests.echo, "")
    result: dict[str, Any] = {
        "config": {
            "repetitions": repetitions,
            "invocations_per_repetition": count,
            "warmup": warmup,
            "limits": LIMITS.replace("\n ", ", "),
        },
        "guests": {},
        "skipped": {},
    }
    runtime = runtime_for(directory, functions)
    try:
        for name, function in runtime.functions.items():
            figures = time_invocations(runtime, function, repetitions, count, warmup)
            result["guests"][name] = figures
            echo(
                f"  in-process {name}: p50 {figures['total_us']['p50']:.1f} µs, "
                f"p99 {figures['total_us']['p99']:.1f} µs"
            )
        if "echo" in runtime.functions:
            calls = time_runtime_calls(runtime, runtime.functions["echo"], count)
            result["echo_through_runtime_call"] = calls
            echo(f"  echo through Runtime.call: p50 {calls['total_us']['p50']:.1f} µs")
    finally:
        runtime.close()
    if guests.echo is None:
        result["skipped"]["echo"] = guests.skipped.get("c", "no C toolchain")
    result["key_value"] = measure_key_value(
        guests, directory / "kv", repetitions, count, warmup, echo
    )
    result["storage"] = measure_storage(
        guests, directory / "storage", repetitions, count, warmup, echo
    )
    return result


def measure_key_value(
    guests: Guests,
    directory: Path,
    repetitions: int,
    count: int,
    warmup: int,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """``kv_get`` from inside a function against a real embedded nats-server."""
    directory.mkdir(parents=True, exist_ok=True)
    server = EmbeddedNats(directory / "nats")
    info = server.start()
    services = Services(NatsConnection((info.url,), info.user, info.password))
    grants = "permissions {\n kv_read bench\n kv_write bench\n }"
    runtime = runtime_for(
        directory,
        {
            "kv_set": (guests.kv_set, grants),
            "kv_get": (guests.kv_get, grants),
            "baseline": (guests.noop, ""),
        },
        services,
    )
    try:
        setter = runtime.functions["kv_set"]
        _check(
            invoke(runtime.engine, setter.module, setter.sandbox, b"{}", tenant="bench"), "kv_set"
        )
        figures = time_invocations(
            runtime, runtime.functions["kv_get"], repetitions, count // 2, warmup, tenant="bench"
        )
        echo(
            f"  kv_get from a function: run phase p50 {figures['phases_us']['run']['p50']:.1f} µs "
            f"(whole invocation {figures['total_us']['p50']:.1f} µs)"
        )
        return {"server": "embedded nats-server (JetStream), loopback", **figures}
    finally:
        runtime.close()
        services.close()
        server.stop()


STORAGE_CASES = {
    # name: (the guest that writes what the timed guest reads, the timed guest, its host call)
    "sql_point_query": ("sql_setup", "sql_query", "db_query"),
    "blob_get_4kib": ("blob_put", "blob_get", "blob_get"),
}


def measure_storage(
    guests: Guests,
    directory: Path,
    repetitions: int,
    count: int,
    warmup: int,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """A SQLite point query and a 4 KiB blob read from inside a function, on the embedded
    defaults (a SQLite file per tenant and the filesystem store, both under ``data_dir``)."""
    directory.mkdir(parents=True, exist_ok=True)
    storage = "db_driver sqlite\n s3_bucket bench\n"
    grants = "permissions {\n db write\n blob_read bench\n blob_write bench\n }"
    functions = {
        name: (getattr(guests, name), storage + grants)
        for name in ("sql_setup", "sql_query", "blob_put", "blob_get")
    }
    runtime = runtime_for(directory, functions)
    results: dict[str, Any] = {}
    try:
        for case, (writer_name, reader_name, call) in STORAGE_CASES.items():
            writer = runtime.functions[writer_name]
            run = invoke(runtime.engine, writer.module, writer.sandbox, b"{}", tenant="bench")
            _check(run, writer_name)
            figures = time_invocations(
                runtime, runtime.functions[reader_name], repetitions, count, warmup, "bench"
            )
            results[case] = {"host_call": call, **figures}
            echo(
                f"  {case}: run phase p50 {figures['phases_us']['run']['p50']:.1f} µs "
                f"({call} alone {figures['host_calls_us'][call]['p50']:.1f} µs)"
            )
    finally:
        runtime.close()
    return results


def _check(run: Run, name: str) -> None:
    if run.error is not None:
        raise RuntimeError(f"guest {name} failed: {run.error} {run.stderr[:200]!r}")
