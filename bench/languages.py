"""Part 6: a hello function in each guest language, one invocation in-process.

The same hello (read the request, answer 200 text/plain "hello") written in each language a
function can be written in, each run through ``pyjinn.engine.invoke.invoke`` in a fresh sandbox
per call with every limit on, as in part 1, with the AOT compile cache warm (the per-user cache
``pyjinn run`` uses, so the Python interpreter is compiled once per machine, not per run).
For each: the p50 and p99 of the whole invocation, its phases, the size of what is loaded,
and how long building it took. Python functions also report the memory image each request
starts from (``pyjinn.engine.preinit``) and the one-time preparation when the function loads.
A language whose toolchain is missing is skipped, with the reason.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.guests import Guests
from bench.inprocess import LIMITS, time_invocations
from pyjinn.config import loads
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import ModuleLoader, cache_dir_for, default_cache_home
from pyjinn.errors import PyjinnError
from pyjinn.interpreters.python import find_artifacts
from pyjinn.runtime import Runtime
from pyjinn.toolchain.compilers import CompileFailed, compile_assemblyscript
from pyjinn.toolchain.recipe import Recipe

SOURCES = Path(__file__).resolve().parent / "guests"
SDK = Path(__file__).resolve().parents[1] / "sdk"


def _built(language: str) -> Callable[[Guests, Path], tuple[Path, float]]:
    """The hello ``bench.guests`` built for ``language`` (C plain stdio; Zig, Rust and Go with
    the ``pyjinn init`` template or SDK)."""

    def built(guests: Guests, directory: Path) -> tuple[Path, float]:
        path = guests.hellos.get(language)
        if path is None:
            key = "c" if language == "c" else f"hello_{language}"
            raise PyjinnError(guests.skipped.get(key, f"no {language} toolchain"))
        seconds = guests.build_seconds.get(f"hello_{language}", guests.build_seconds.get("hello"))
        return path, seconds or 0.0

    return built


def _assemblyscript(guests: Guests, directory: Path) -> tuple[Path, float]:
    work = directory / "assemblyscript"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCES / "hello.ts", work / "main.ts")
    shutil.copyfile(SDK / "assemblyscript" / "pyjinn.ts", work / "pyjinn.ts")
    output = directory / "hello_ts.wasm"
    started = time.perf_counter()
    recipe = Recipe("hello_ts", work, "assemblyscript", (work / "main.ts",), output)
    try:
        compile_assemblyscript(recipe, output)
    except CompileFailed as failed:
        raise PyjinnError(str(failed).splitlines()[0]) from None
    return output, time.perf_counter() - started


def _python(guests: Guests, directory: Path) -> tuple[Path, float]:
    find_artifacts()  # raises InterpreterMissing, the reason for skipping
    target = directory / "hello.py"
    shutil.copyfile(SOURCES / "hello.py", target)
    return target, 0.0


# language: how its hello is built (module path, build seconds); more languages add a row.
BUILDERS: dict[str, Callable[[Guests, Path], tuple[Path, float]]] = {
    "c": _built("c"),
    "zig": _built("zig"),
    "rust": _built("rust"),
    "go": _built("go"),
    "assemblyscript": _assemblyscript,
    "python": _python,
}


def measure(
    guests: Guests, directory: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    repetitions, count, warmup = (2, 100, 20) if quick else (5, 1000, 100)
    directory.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "config": {
            "repetitions": repetitions,
            "invocations_per_repetition": count,
            "warmup": warmup,
            "limits": LIMITS.replace("\n ", ", "),
        },
        "languages": {},
        "skipped": {},
    }
    built: dict[str, tuple[Path, float]] = {}
    for language, build in BUILDERS.items():
        try:
            built[language] = build(guests, directory)
        except PyjinnError as missing:
            result["skipped"][language] = str(missing)
            echo(f"  {language}: skipped ({missing})")
    engine = Engine(max_instances=64)
    loader = ModuleLoader(engine, cache_dir_for(default_cache_home()))
    blocks = "\n".join(
        f"\thandle /{language} {{\n\t\tpyjinn {path} {{\n name {language}\n {LIMITS}\n}}\n\t}}"
        for language, (path, _) in built.items()
    )
    text = f"{{\n\tadmin off\n\tdata_dir {directory / 'data'}\n}}\n127.0.0.1:9 {{\n{blocks}\n}}\n"
    runtime = Runtime(loads(text, base_dir=directory, environ={}), loader=loader)
    runtime.start()
    try:
        for language, (path, build_seconds) in built.items():
            function = runtime.functions[language]
            started = time.perf_counter()
            module = function.module
            load_seconds = time.perf_counter() - started
            figures = time_invocations(runtime, function, repetitions, count, warmup)
            size = module.path.stat().st_size if module.image is None else path.stat().st_size
            entry: dict[str, Any] = {
                **figures,
                "module_bytes": size,
                "build_seconds": build_seconds,
                "first_load_seconds": load_seconds,
            }
            if module.image is not None:
                interpreter = find_artifacts().interpreter
                entry["interpreter_bytes"] = interpreter.stat().st_size
                entry["image_bytes"] = module.image.restored_bytes
                entry["image_runs"] = module.image.run_count
                entry["memory_pages"] = module.image.pages
            result["languages"][language] = entry
            echo(
                f"  {language} hello: p50 {figures['total_us']['p50'] / 1000:.2f} ms, "
                f"p99 {figures['total_us']['p99'] / 1000:.2f} ms, module {size:,} bytes"
            )
    finally:
        runtime.close()
        engine.close()
    return result
