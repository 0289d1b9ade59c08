"""Rust functions: a Cargo package built with ``cargo build --release --offline`` for WASI.

The compiler must have the WebAssembly standard library: Debian's ``rustc`` with
``libstd-rust-dev-wasm32`` (target ``wasm32-wasi``, Rust 1.63, offline), or a rustup toolchain
with ``rustup target add wasm32-wasip1``. ``find_rust`` looks at the ``rustc`` on PATH, then at
Debian's ``/usr/bin/rustc``, and takes the first that has one of those targets, with the
``cargo`` beside it. Cargo's build directory is ``.target/`` inside the function's directory
(hidden, so it never counts as an input of the build).

The pyjinn SDK (``sdk/rust``) is an ordinary path dependency in the function's Cargo.toml; its
files, like those of any path dependency, are inputs of the build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pyjinn.toolchain.process import CompileFailed, run_compiler
from pyjinn.toolchain.progress import report
from pyjinn.toolchain.recipe import Recipe

MANIFEST = "Cargo.toml"
TARGET_DIR = ".target"
# Newer toolchains name WASI preview 1 wasm32-wasip1; Rust up to 1.83 (Debian's 1.63) wasm32-wasi.
TARGETS = ("wasm32-wasip1", "wasm32-wasi")
DEBIAN_RUSTC = Path("/usr/bin/rustc")
INSTALL_HINT = (
    "install Debian's (as root): apt-get install rustc cargo libstd-rust-dev-wasm32; "
    "or, with rustup: rustup target add wasm32-wasip1"
)
# Cargo's status lines, which are progress rather than warnings.
_STATUS = re.compile(r"^\s*(Compiling|Finished|Fresh|Locking|Updating|Blocking|Running)\s")


@dataclass(frozen=True)
class RustToolchain:
    rustc: Path
    cargo: Path
    target: str
    version: str


def find_rust() -> RustToolchain:
    """The first Rust toolchain that can build for WASI preview 1; raises ``CompileFailed``
    naming each compiler tried and how to install one."""
    tried: list[str] = []
    for rustc in _candidates():
        sysroot = _ask(rustc, "--print", "sysroot")
        version = _ask(rustc, "--version")
        if sysroot is None or version is None:
            tried.append(f"{rustc} (does not run)")
            continue
        target = next(
            (name for name in TARGETS if (Path(sysroot) / "lib/rustlib" / name / "lib").is_dir()),
            None,
        )
        if target is None:
            tried.append(f"{version} at {rustc} (no {' or '.join(TARGETS)} standard library)")
            continue
        cargo = rustc.with_name("cargo")
        if not cargo.exists():
            tried.append(f"{version} at {rustc} (no cargo beside it)")
            continue
        return RustToolchain(rustc, cargo, target, version)
    found = "; ".join(tried) if tried else "no rustc on PATH or at /usr/bin/rustc"
    raise CompileFailed(f"no Rust toolchain can build for WASI ({found}); {INSTALL_HINT}")


def compile_rust(recipe: Recipe, destination: Path) -> str:
    """Build the Cargo package in the function's directory and copy its binary to
    ``destination``. Returns cargo's warnings (without its status lines)."""
    toolchain = find_rust()
    manifest = recipe.directory / MANIFEST
    command = [str(toolchain.cargo), "build", "--release", "--offline"]
    command += ["--target", toolchain.target, "--manifest-path", str(manifest.absolute())]
    command += ["--message-format=json-render-diagnostics", *recipe.flags]
    environment = {
        **os.environ,
        "RUSTC": str(toolchain.rustc),
        "CARGO_TARGET_DIR": str((recipe.directory / TARGET_DIR).absolute()),
        "CARGO_TERM_COLOR": "never",
    }
    messages, output = run_compiler(
        command, recipe.directory, env=environment, on_line=_report_crate
    )
    binary = _binary(messages, manifest)
    shutil.copyfile(binary, destination)
    return "\n".join(line for line in output.splitlines() if not _STATUS.match(line)).strip()


def dependency_files(recipe: Recipe) -> Iterator[Path]:
    """The files of the package's local path dependencies (the SDK among them)."""
    try:
        with (recipe.directory / MANIFEST).open("rb") as file:
            manifest = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return  # cargo reports a bad manifest when it builds
    for table in ("dependencies", "build-dependencies"):
        for spec in manifest.get(table, {}).values():
            if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                yield from _files(recipe.directory / spec["path"])


def _files(directory: Path) -> Iterator[Path]:
    for path in sorted(directory.rglob("*")):
        parts = path.relative_to(directory).parts
        if path.is_file() and not any(part.startswith(".") or part == "target" for part in parts):
            yield path


def _report_crate(line: str) -> None:
    match = re.match(r"^\s*Compiling (\S+ \S+)", line)
    if match:
        report(f"compiling {match.group(1)}")


def _binary(messages: str, manifest: Path) -> Path:
    binaries: list[Path] = []
    for line in messages.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (
            isinstance(message, dict)
            and message.get("reason") == "compiler-artifact"
            and message.get("executable")
            and Path(message.get("manifest_path", "")) == manifest.absolute()
        ):
            binaries.append(Path(message["executable"]))
    if len(binaries) == 1:
        return binaries[0]
    if not binaries:
        raise CompileFailed(
            f"{manifest}: cargo built no binary; a function is a binary crate "
            "(src/main.rs with fn main calling pyjinn::run)"
        )
    names = ", ".join(sorted(path.stem for path in binaries))
    raise CompileFailed(
        f'{manifest}: cargo built several binaries ({names}); pick one with flags = ["--bin", NAME]'
    )


def _candidates() -> Iterator[Path]:
    seen: set[Path] = set()
    on_path = shutil.which("rustc")
    for candidate in (Path(on_path) if on_path else None, DEBIAN_RUSTC):
        if candidate is None or not candidate.exists():
            continue
        key = candidate.resolve()
        if key not in seen:
            seen.add(key)
            yield candidate


def _ask(program: Path, *arguments: str) -> str | None:
    try:
        completed = subprocess.run(
            [str(program), *arguments],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None
