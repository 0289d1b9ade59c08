"""Part 10: outbound HTTP, through the host and directly.

The upstream is the bare ASGI hello (``bench/fronts/hello.py``, pyjinn's uvicorn setup) in a
process of its own on loopback. The same GET, on a kept-alive connection, is timed

- **directly with httpx** (``httpx.Client``, what a Python program would do: the floor);
- **through pyjinn's egress client from Python** (``EgressClient.request``: the allow-list, the
  pinned connection pool, the deadline, no guest), which shows what the client itself costs;
- **from a guest**: a WAT function whose whole run is one ``http_request`` and its
  ``result_read``, invoked in a fresh sandbox each time like any request. The dispatcher's own
  timing of the ``http_request`` call (``HostCall.seconds``: decoding, the grant, the client,
  encoding the answer) is the cost of the call through the host; the whole invocation is
  compared with the empty function's (``noop.wat``) too.

The overhead of a call through the host is its host-call p50 less the direct httpx p50, both
measured in this run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import processes
from bench.guests import Guests
from bench.inprocess import runtime_for, time_invocations
from bench.stats import distribution

GUEST = """
(module
  (import "pyjinn" "http_request"
    (func $http_request (param i32 i32 i32 i32 i32 i32 i32 i32) (result i64)))
  (import "pyjinn" "result_read" (func $result_read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "GET")
  (data (i32.const 16) "URL")
  (func (export "_start")
    (local $length i64)
    (local.set $length (call $http_request (i32.const 0) (i32.const 3)
      (i32.const 16) (i32.const URL_LENGTH) (i32.const 0) (i32.const 0) (i32.const 0)
      (i32.const 0)))
    (if (i64.lt_s (local.get $length) (i64.const 0)) (then unreachable))
    (drop (call $result_read (i32.const 4096) (i32.wrap_i64 (local.get $length))))))
"""


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    import httpx

    from pyjinn.egress import AllowList, EgressClient

    run_dir.mkdir(parents=True, exist_ok=True)
    count, warmup, repetitions = (200, 50, 2) if quick else (2000, 300, 5)
    port = processes.free_port()
    upstream = processes.spawn(
        "upstream", processes.python_command("-m", "bench.fronts.hello", str(port)), port, run_dir
    )
    url = f"http://127.0.0.1:{port}/"
    results: dict[str, Any] = {"upstream": "bench/fronts/hello.py (uvicorn, 1 process)"}
    try:
        processes.wait_until_ok(upstream, "/")
        with httpx.Client() as client:
            results["direct_httpx_us"] = _timed(
                lambda: client.get(url).raise_for_status(), count, warmup
            )
        egress = EgressClient()
        allow = AllowList.parse([f"127.0.0.1:{port}"])
        try:
            results["egress_client_us"] = _timed(
                lambda: _ok(
                    egress.request("GET", url, allow=allow, deadline=time.monotonic() + 5).status
                ),
                count,
                warmup,
            )
        finally:
            egress.close()
        echo(
            f"  GET on loopback: httpx p50 {results['direct_httpx_us']['p50']:.0f} µs, "
            f"pyjinn's client p50 {results['egress_client_us']['p50']:.0f} µs"
        )
        module = run_dir / "http_get.wat"
        module.write_text(GUEST.replace("URL_LENGTH", str(len(url))).replace('"URL"', f'"{url}"'))
        grant = f"allow_host 127.0.0.1:{port}\n permissions {{\n http\n }}"
        runtime = runtime_for(run_dir, {"http_get": (module, grant), "noop": (guests.noop, "")})
        try:
            guest = time_invocations(
                runtime, runtime.functions["http_get"], repetitions, count // 2, warmup
            )
            empty = time_invocations(
                runtime, runtime.functions["noop"], repetitions, count // 2, warmup
            )
        finally:
            runtime.close()
    finally:
        upstream.stop()
    results["guest_invocation_us"] = guest["total_us"]
    results["noop_invocation_us"] = empty["total_us"]
    results["host_call_us"] = guest["host_calls_us"]["http_request"]
    results["overhead_us_p50"] = results["host_call_us"]["p50"] - results["direct_httpx_us"]["p50"]
    echo(
        f"  http_request from a guest: host call p50 {results['host_call_us']['p50']:.0f} µs, "
        f"{results['overhead_us_p50']:+.0f} µs against httpx"
    )
    return results


def _timed(call: Callable[[], object], count: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples: list[float] = []
    for _ in range(count):
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1000)
    return distribution(samples)


def _ok(status: int) -> None:
    if status != 200:
        raise RuntimeError(f"the upstream answered {status}")
