"""Part "peers": the in-process call against Extism, and which peers this machine has.

Extism (PyPI ``extism``, its Python host SDK over the Extism runtime, itself on wasmtime) calls
``guests/extism_hello.wat``: a plugin whose function outputs "hello" through the Extism kernel
(Extism plugins need its ABI; this is the least a plugin does). Two ways: one plugin reused for
every call (Extism's default: the instance and its memory live on between calls), and a plugin
created per call from the compiled plugin (a fresh instance each call, as pyjinn gives every
invocation). Beside them, pyjinn's invocation of its hello (``guests/hello.c``), in a fresh
sandbox each call with every limit on, as in part 1.

The HTTP peers (``wasmtime serve``, workerd) are variants of part 2, so that their ratios to
pyjinn are measured in the same alternating runs; this part lists whether each was found.
"""

# The report speaks in µs and × on purpose.
# ruff: noqa: RUF002, RUF003

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import peers
from bench.guests import Guests, assemble
from bench.inprocess import runtime_for, time_invocations
from bench.stats import distribution, spread


def inventory() -> dict[str, dict[str, str]]:
    """Each peer: where it was found, or why it is skipped."""
    found = {
        "node": peers.node(),
        "jco_transpile": peers.jco_transpile(),
        "workerd": peers.workerd(),
        "extism": peers.extism(),
    }
    return {
        name: {"path": str(f.path)} if f.path is not None else {"skipped": f.reason}
        for name, f in found.items()
    }


def time_calls(
    call: Callable[[], bytes], repetitions: int, count: int, warmup: int
) -> dict[str, Any]:
    """``call`` ``warmup`` times, then ``repetitions`` × ``count`` times, each timed; it must
    answer "hello"."""
    for _ in range(warmup):
        _check(call())
    totals: list[float] = []
    per_repetition: list[float] = []
    for _ in range(repetitions):
        these = []
        for _ in range(count):
            started = time.perf_counter_ns()
            answer = call()
            these.append((time.perf_counter_ns() - started) / 1000)
            _check(answer)
        totals.extend(these)
        per_repetition.append(distribution(these)["p50"])
    return {"total_us": distribution(totals), "p50_us_per_repetition": spread(per_repetition)}


def measure_extism(repetitions: int, count: int, warmup: int) -> dict[str, Any]:
    import extism  # the peers extra
    from extism.extism import CompiledPlugin

    wasm = assemble((peers.GUESTS / "extism_hello.wat").read_text())
    manifest = {"wasm": [{"data": wasm}]}
    reused = extism.Plugin(manifest, wasi=False)
    compiled = CompiledPlugin(manifest, wasi=False)

    def fresh() -> bytes:
        plugin = extism.Plugin(compiled)
        answer: bytes = plugin.call("hello", b"")
        return answer

    def again() -> bytes:
        answer: bytes = reused.call("hello", b"")
        return answer

    return {
        "version": extism.extism_version(),
        "plugin_bytes": len(wasm),
        "reused": time_calls(again, repetitions, count, warmup),
        "fresh_per_call": time_calls(fresh, repetitions, count, warmup),
    }


def measure(
    guests: Guests, directory: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    repetitions, count, warmup = (2, 200, 50) if quick else (5, 2000, 300)
    result: dict[str, Any] = {
        "config": {
            "repetitions": repetitions,
            "calls_per_repetition": count,
            "warmup": warmup,
        },
        "found": inventory(),
        "skipped": {},
    }
    for name, entry in result["found"].items():
        if "skipped" in entry:
            echo(f"  peer {name} skipped: {entry['skipped']}")
    if guests.hello is None:
        result["skipped"]["pyjinn_hello"] = guests.skipped.get("c", "no C toolchain")
    else:
        runtime = runtime_for(directory / "pyjinn", {"hello": (guests.hello, "")})
        try:
            figures = time_invocations(
                runtime, runtime.functions["hello"], repetitions, count, warmup
            )
        finally:
            runtime.close()
        result["pyjinn_hello"] = {"total_us": figures["total_us"]}
        result["pyjinn_hello"]["p50_us_per_repetition"] = figures["p50_us_per_repetition"]
        echo(f"  pyjinn hello in-process: p50 {figures['total_us']['p50']:.1f} µs")
    if "skipped" in result["found"]["extism"]:
        result["skipped"]["extism"] = result["found"]["extism"]["skipped"]
        return result
    result["extism"] = measure_extism(repetitions, count, warmup)
    for way in ("reused", "fresh_per_call"):
        p50 = result["extism"][way]["total_us"]["p50"]
        echo(f"  Extism hello, plugin {way.replace('_', ' ')}: p50 {p50:.1f} µs")
    if "pyjinn_hello" in result:
        pyjinn = result["pyjinn_hello"]["total_us"]["p50"]
        result["ratios"] = {
            f"pyjinn_hello/extism_{way}": pyjinn / result["extism"][way]["total_us"]["p50"]
            for way in ("reused", "fresh_per_call")
        }
    return result


def _check(answer: bytes) -> None:
    if bytes(answer) != b"hello":
        raise RuntimeError(f"the Extism plugin answered {bytes(answer)!r}, not b'hello'")
