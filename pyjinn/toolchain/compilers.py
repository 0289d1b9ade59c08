"""The compilers behind ``pyjinn build``: one function per language, each turning a recipe into
a WebAssembly module at a given path.

C and Zig go through the zig toolchain that the ``ziglang`` wheel ships (``pip install
'pyjinn[build]'``), run as ``python -m ziglang`` so no PATH setup is needed; WAT goes through
wasmtime's own ``wat2wasm``. Compilers run in the function's directory, so their messages name
files as the user sees them (``main.c:3:5: error: ...``) and relative flags resolve there.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import wasmtime

from pyjinn.toolchain.recipe import Recipe, ToolchainError

INSTALL_HINT = "install it with: pip install 'pyjinn[build]'"


class CompileFailed(ToolchainError):
    """The compiler rejected a function, or could not run; the message is what it said."""


# The function's directory is on the include path, as for any C project built in place.
C_OPTIONS = ("--target=wasm32-wasi", "-Os", "-s", "-I", ".")
ZIG_OPTIONS = ("-target", "wasm32-wasi", "-O", "ReleaseSmall")
# --debug: keep the name section and DWARF, so traps name functions and source lines.
C_DEBUG_OPTIONS = ("--target=wasm32-wasi", "-O1", "-g", "-I", ".")
ZIG_DEBUG_OPTIONS = ("-target", "wasm32-wasi", "-O", "ReleaseSafe", "-fno-strip")


def compile_c(recipe: Recipe, destination: Path) -> str:
    """Compile C sources with ``zig cc`` for wasm32-wasi (a WASI preview1 command)."""
    output = ["-o", str(destination.absolute())]
    sources = _relative_sources(recipe)
    options = C_DEBUG_OPTIONS if recipe.debug else C_OPTIONS
    return _run(recipe, [*_zig(), "cc", *options, *output, *sources, *recipe.flags])


def compile_zig(recipe: Recipe, destination: Path) -> str:
    """Compile a Zig root file with ``zig build-exe`` for wasm32-wasi, ReleaseSmall."""
    # -femit-bin names the only file zig writes here; its cache goes to the global cache.
    output = [f"-femit-bin={destination.absolute()}"]
    sources = _relative_sources(recipe)
    if recipe.modules:
        # Named modules: the root module depends on each, and each is a file of its own.
        dependencies = [part for name, _ in recipe.modules for part in ("--dep", name)]
        roots = [f"-Mroot={sources[0]}"] + [
            f"-M{name}={os.path.relpath(path, recipe.directory)}" for name, path in recipe.modules
        ]
        sources = [*dependencies, *roots]
    options = ZIG_DEBUG_OPTIONS if recipe.debug else ZIG_OPTIONS
    return _run(recipe, [*_zig(), "build-exe", *options, *output, *sources, *recipe.flags])


def compile_wat(recipe: Recipe, destination: Path) -> str:
    """Assemble WebAssembly text with wasmtime's ``wat2wasm``, then validate the result.

    wat2wasm checks only the syntax; validating here reports type errors at build time
    instead of when a server first loads the module.
    """
    (source,) = recipe.sources
    try:
        text = source.read_text(encoding="utf-8")
        binary = wasmtime.wat2wasm(text)
        wasmtime.Module.validate(wasmtime.Engine(), binary)
    except (OSError, UnicodeDecodeError) as error:
        raise CompileFailed(f"{source}: cannot read: {error}") from error
    except wasmtime.WasmtimeError as error:
        raise CompileFailed(f"{source}: {error}") from error
    destination.write_bytes(binary)
    return ""


COMPILERS: dict[str, Callable[[Recipe, Path], str]] = {
    "c": compile_c,
    "zig": compile_zig,
    "wat": compile_wat,
}


def compile_command(recipe: Recipe, destination: Path) -> str:
    """Run the recipe's own ``command``, which must write the module to ``{output}``."""
    output = str(destination.absolute())
    command = [part.replace("{output}", output) for part in recipe.command]
    environment = {"PYJINN_OUTPUT": output, "PYJINN_DEBUG": "1" if recipe.debug else "0"}
    return _run(recipe, command, environment)


def compile_recipe(recipe: Recipe, destination: Path) -> str:
    """Build ``recipe`` into ``destination``; return the compiler's warnings (often empty).

    Raises ``CompileFailed`` with the compiler's output when it fails or cannot be run.
    """
    if recipe.command:
        return compile_command(recipe, destination)
    return COMPILERS[recipe.lang](recipe, destination)


def _zig() -> list[str]:
    # A module set to None in sys.modules also reads as missing, which is how tests simulate it.
    if importlib.util.find_spec("ziglang") is None:
        raise CompileFailed(
            f"the zig toolchain (Python package 'ziglang') is not installed; {INSTALL_HINT}"
        )
    return [sys.executable, "-m", "ziglang"]


def _relative_sources(recipe: Recipe) -> list[str]:
    return [os.path.relpath(source, recipe.directory) for source in recipe.sources]


def _run(recipe: Recipe, command: list[str], environment: dict[str, str] | None = None) -> str:
    try:
        completed = subprocess.run(
            command,
            cwd=recipe.directory,
            env={**os.environ, **environment} if environment else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            check=False,
        )
    except OSError as error:
        raise CompileFailed(f"cannot run {command[0]}: {error}") from error
    output = completed.stdout.strip()
    if completed.returncode != 0:
        raise CompileFailed(
            output or f"the compiler exited with status {completed.returncode} and printed nothing"
        )
    return output
