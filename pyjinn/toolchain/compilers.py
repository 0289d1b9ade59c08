"""The compilers behind ``pyjinn build``: one function per language, each turning a recipe into
a WebAssembly module (for Python, a bundle of sources) at a given path.

C and Zig go through the zig toolchain that the ``ziglang`` wheel ships (``pip install
'pyjinn[build]'``), run as ``python -m ziglang`` so no PATH setup is needed; WAT goes through
wasmtime's own ``wat2wasm``; Rust through cargo (``rust``), Go through go build (``go``);
AssemblyScript through ``asc`` from npm (``pyjinn.toolchain.assemblyscript``); Python functions
are zipped into a ``.pyz`` that the interpreter runs (``pyjinn.interpreters.python``).
Compilers run in the function's directory, so their messages name files as the user sees them
(``main.c:3:5: error: ...``) and relative flags resolve there.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import wasmtime

from pyjinn.toolchain import assemblyscript, go, rust
from pyjinn.toolchain.process import CompileFailed as CompileFailed
from pyjinn.toolchain.recipe import Recipe

INSTALL_HINT = "install it with: pip install 'pyjinn[build]'"

# The stack a function gets. zig's own default is 16 MiB, all of it in the module's initial
# memory: every invocation then touches pages far apart, which the sandbox must decommit and
# fault in again each time (-15% CPU per request for a C hello over HTTP). C gets wasi-sdk's
# default, 64 KiB; Zig 1 MiB, as Rust. The stack comes first in memory, so overflowing it
# traps (out of bounds memory access) rather than corrupting data. A recipe's flags come
# last and can raise it: `-Wl,-z,stack-size=N` (C), `--stack N` (Zig).
C_STACK = "-Wl,-z,stack-size=65536"
ZIG_STACK = ("--stack", "1048576")
# The function's directory is on the include path, as for any C project built in place.
C_OPTIONS = ("--target=wasm32-wasi", "-Os", "-s", C_STACK, "-I", ".")
ZIG_OPTIONS = ("-target", "wasm32-wasi", "-O", "ReleaseSmall", *ZIG_STACK)
# --debug: keep the name section and DWARF, so traps name functions and source lines.
C_DEBUG_OPTIONS = ("--target=wasm32-wasi", "-O1", "-g", C_STACK, "-I", ".")
ZIG_DEBUG_OPTIONS = ("-target", "wasm32-wasi", "-O", "ReleaseSafe", "-fno-strip", *ZIG_STACK)


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


# AssemblyScript through asc with the wasi-shim's configuration: size-optimised; a recipe's
# flags = ["--debug"] (or pyjinn build --debug) keeps function names, so a trap's backtrace
# names them.
ASSEMBLYSCRIPT_OPTIONS = ("-O3z",)


def compile_assemblyscript(recipe: Recipe, destination: Path) -> str:
    """Compile the entry file (the first source) with ``asc`` and the WASI shim; the other
    sources are files it imports, listed so a change to them rebuilds the function."""
    try:
        toolchain = assemblyscript.find_or_install(recipe.directory)
    except assemblyscript.ToolchainMissing as missing:
        raise CompileFailed(str(missing)) from None
    entry = _relative_sources(recipe)[0]
    # asc resolves the configuration's "lib" wrongly from an absolute --config path.
    config = os.path.relpath(toolchain.shim_config, recipe.directory)
    command = [toolchain.node, str(toolchain.asc), entry, "--config", config]
    command += [*ASSEMBLYSCRIPT_OPTIONS, "-o", str(destination.absolute()), *recipe.flags]
    if recipe.debug and "--debug" not in recipe.flags:
        command.append("--debug")  # pyjinn build --debug
    return _run(recipe, command)


def compile_python(recipe: Recipe, destination: Path) -> str:
    """Zip the function's sources into a ``.pyz`` (handler.py at its top), the same bytes for
    the same sources. Each file is parsed first: the host's Python cannot parse some newer
    syntax that the function's CPython 3.15 accepts, so a file it cannot parse is a warning,
    and pyjinn reports real errors, with a traceback, when the function loads."""
    warnings = []
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED) as bundle:
        for source in sorted(recipe.sources):
            name = Path(os.path.relpath(source, recipe.directory)).as_posix()
            if name.startswith("../"):
                raise CompileFailed(
                    f"{source}: a Python function's sources lie in its directory (it is "
                    "imported by its path there)"
                )
            try:
                data = source.read_bytes()
            except OSError as error:
                raise CompileFailed(f"{source}: cannot read: {error.strerror}") from None
            try:
                compile(data, name, "exec", dont_inherit=True)
            except SyntaxError as error:
                version = ".".join(map(str, sys.version_info[:2]))
                warnings.append(
                    f"{name}:{error.lineno}: Python {version} cannot parse it ({error.msg}); "
                    "it is checked again when the function loads"
                )
            except ValueError as error:  # NUL bytes
                raise CompileFailed(f"{name}: {error}") from None
            member = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(member, data)
    return "\n".join(warnings)


COMPILERS: dict[str, Callable[[Recipe, Path], str]] = {
    "c": compile_c,
    "zig": compile_zig,
    "wat": compile_wat,
    "rust": rust.compile_rust,
    "go": go.compile_go,
    "assemblyscript": compile_assemblyscript,
    "python": compile_python,
}

# Files outside the function's directory that its build reads (local packages it depends on),
# for the languages whose manifests name them; they count as inputs of the build.
DEPENDENCY_FILES: dict[str, Callable[[Recipe], Iterator[Path]]] = {
    "rust": rust.dependency_files,
    "go": go.dependency_files,
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
