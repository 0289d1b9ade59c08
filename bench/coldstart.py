"""Part 3: cold start.

- ``pyjinn up`` from process start to the first 200 of a function, with one worker and with the
  default (one per CPU), the compile cache already warm (a first, discarded start fills it).
  The client connects as soon as the port accepts and waits for the answer, so the figure is
  what the first user would see. For scale: the interpreter alone (``python -c pass``) and
  pyjinn's imports.
- The first invocation of a module new to the process, with and without the AOT compile cache
  (``data_dir/cache``): the load (compile, or map the cached code) plus the first invocation,
  in-process, for a small WAT module, a C module, a large Go module, and the Rust and Go hellos
  written with their SDKs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import processes
from bench.environment import ROOT
from bench.guests import Guests
from bench.stats import spread
from pyjinn.config.model import Limits
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader

IMPORTS = "import pyjinn.server.supervisor, pyjinn.server.worker, pyjinn.runtime, uvicorn"
FIRST_REQUEST = b'{"method":"POST","path":"/","body":"{\\"id\\":\\"1\\",\\"value\\":100}"}'


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    repetitions = 2 if quick else 5
    result: dict[str, Any] = {"config": {"repetitions": repetitions}}
    compile_bytecode()
    result["interpreter"] = {
        "python_pass_ms": spread(_command_times([sys.executable, "-c", "pass"], repetitions)),
        "python_imports_ms": spread(_command_times([sys.executable, "-c", IMPORTS], repetitions)),
    }
    module = guests.hello or guests.noop
    result["pyjinn_up"] = {"function": module.name}
    for label, workers in (("workers_1", 1), ("workers_default", None)):
        times = start_to_first_200(module, run_dir / f"up_{label}", workers, repetitions)
        result["pyjinn_up"][label] = spread(times)
        echo(
            f"  pyjinn up ({label}) to first 200: median "
            f"{result['pyjinn_up'][label]['median']:.0f} ms"
        )
    result["modules"] = {}
    candidates = {
        "small_wat": guests.noop,
        "c": guests.echo,
        "go_large": guests.large_go,
        "rust_hello": guests.hellos.get("rust"),
        "go_hello": guests.hellos.get("go"),
    }
    # Which toolchain each one needs, for the reason it was not built.
    toolchains = {"go_large": "go", "rust_hello": "hello_rust", "go_hello": "hello_go"}
    for name, path in candidates.items():
        if path is None:
            reason = guests.skipped.get(toolchains.get(name, "c"), "not built")
            result["modules"][name] = {"skipped": reason}
            continue
        figures = first_hits(
            path, run_dir / f"cache_{name}", 1 if quick and name.startswith("go") else repetitions
        )
        result["modules"][name] = figures
        echo(
            f"  {name} ({figures['bytes']} B): compile {figures['compile_ms']['median']:.1f} ms, "
            f"first hit cached {figures['first_hit_cached_ms']['median']:.2f} ms"
        )
    return result


def compile_bytecode() -> None:
    """Compile pyjinn's bytecode, as installing a package does. Where the environment sets
    PYTHONDONTWRITEBYTECODE (this machine does), Python never writes it for a source tree, and
    every start would compile pyjinn's modules again: a cost no installed pyjinn pays."""
    package = ROOT / "pyjinn"
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-x", "/templates/", str(package)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def start_to_first_200(
    module: Path, directory: Path, workers: int | None, repetitions: int
) -> list[float]:
    """Milliseconds from starting ``pyjinn up`` to the first 200, ``repetitions`` times."""
    directory.mkdir(parents=True, exist_ok=True)
    times = []
    for attempt in range(repetitions + 1):  # the first start fills the compile cache
        port, admin = processes.free_port(), processes.free_port()
        caddyfile = directory / "Caddyfile"
        caddyfile.write_text(
            f"{{\n\tadmin 127.0.0.1:{admin}\n\tdata_dir {directory / 'data'}\n}}\n"
            f"127.0.0.1:{port} {{\n\thandle /fn {{\n\t\tpyjinn {module}\n\t}}\n}}\n"
        )
        server = processes.pyjinn_up("coldstart", caddyfile, port, admin, directory, workers)
        try:
            seconds = processes.wait_until_ok(server, "/fn", timeout=120)
        finally:
            server.stop()
        if attempt:
            times.append(seconds * 1000)
    return times


def first_hits(path: Path, cache_dir: Path, repetitions: int) -> dict[str, Any]:
    """Compile, cached load and first invocation of ``path`` in a fresh loader each time."""
    engine = Engine()
    sandbox = Sandbox(
        engine, Limits(timeout=30.0, memory_limit=128 * 1024 * 1024, fuel_limit=10**10)
    )
    compile_ms, uncached, cached_load, cached = [], [], [], []
    try:
        for _ in range(repetitions):
            shutil.rmtree(cache_dir, ignore_errors=True)
            started = time.perf_counter()
            module = ModuleLoader(engine, cache_dir).load(path)
            loaded = time.perf_counter()
            invoke(engine, module, sandbox, FIRST_REQUEST)
            done = time.perf_counter()
            compile_ms.append((loaded - started) * 1000)
            uncached.append((done - started) * 1000)

            started = time.perf_counter()
            module = ModuleLoader(engine, cache_dir).load(path)
            loaded = time.perf_counter()
            run = invoke(engine, module, sandbox, FIRST_REQUEST)
            done = time.perf_counter()
            if not module.from_cache or run.error is not None:
                raise RuntimeError(f"{path.name}: cached load failed ({run.error})")
            cached_load.append((loaded - started) * 1000)
            cached.append((done - started) * 1000)
    finally:
        engine.close()
    return {
        "bytes": path.stat().st_size,
        "compile_ms": spread(compile_ms),
        "first_hit_uncached_ms": spread(uncached),
        "cached_load_ms": spread(cached_load),
        "first_hit_cached_ms": spread(cached),
    }


def _command_times(command: list[str], repetitions: int) -> list[float]:
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        subprocess.run(command, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times
