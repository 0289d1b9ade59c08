"""``pyjinn build``: compile every ``ROOT/functions/NAME/`` into ``ROOT/functions/NAME.wasm``.

A module is rebuilt only when it is missing or older than one of its inputs: any file in the
function's directory (its recipe included) and any file in a directory that holds one of its
sources (so a shared ``../../../sdk/c/pyjinn.c`` and the ``pyjinn.h`` beside it count). The new
module is written beside the old one and renamed over it, so a server never reads a half-written
file. A ``--debug`` build leaves a marker beside the module (``.NAME.wasm.debug``), so the next
build of the other kind rebuilds it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pyjinn.toolchain.compilers import DEPENDENCY_FILES, CompileFailed, compile_recipe
from pyjinn.toolchain.progress import Progress, showing
from pyjinn.toolchain.recipe import (
    ENTRY_POINTS,
    Recipe,
    RecipeError,
    ToolchainError,
    default_output,
    load_recipe,
)

FUNCTIONS_DIR = "functions"


@dataclass(frozen=True)
class BuildResult:
    """The outcome of building one function.

    ``ok`` is False when the recipe is invalid or the compiler failed; ``message`` then holds the
    reason (the compiler's output). ``up_to_date`` is True when nothing needed rebuilding.
    """

    name: str
    output: Path
    ok: bool
    message: str
    up_to_date: bool = False


def build_all(
    root: Path,
    *,
    force: bool = False,
    echo: Callable[[str], None] = print,
    debug: bool = False,
    progress: Progress | None = None,
) -> list[BuildResult]:
    """Build every function under ``root/functions/``, in name order, and report each one.

    ``echo`` receives one line per function (built, up to date, or failed, with the time taken)
    and, after a failure or warnings, the compiler's output. ``progress``, if given, is shown
    while each function compiles (what it is doing: Go's packages, cargo's crates). ``debug``
    keeps names and debug information. A function that fails to build does not stop the others
    and does not raise; its result has ``ok=False``.

    Raises ``ToolchainError`` when ``root/functions/`` is not a directory.
    """
    functions = root / FUNCTIONS_DIR
    if not functions.is_dir():
        entries = ", ".join(ENTRY_POINTS.values())
        raise ToolchainError(
            f"{root}: no {FUNCTIONS_DIR}/ directory to build; expected {functions}/NAME/ "
            f"holding {entries} (create one with: pyjinn init NAME --dir {root})"
        )
    directories = sorted(
        path for path in functions.iterdir() if path.is_dir() and not path.name.startswith(".")
    )
    if not directories:
        echo(f"No functions to build in {functions}/.")
    return [
        build_function(directory, force=force, echo=echo, debug=debug, progress=progress)
        for directory in directories
    ]


def function_directory(root: Path, name: str) -> Path:
    """``root/functions/NAME``, the directory of the function ``name``; raises
    ``ToolchainError`` naming the functions there when it does not exist."""
    directory = root / FUNCTIONS_DIR / name
    if not directory.is_dir():
        known = sorted(
            path.name
            for path in (root / FUNCTIONS_DIR).glob("*")
            if path.is_dir() and not path.name.startswith(".")
        )
        raise ToolchainError(
            f"no function {name!r} in {root / FUNCTIONS_DIR}/ "
            f"(found: {', '.join(known) or 'none'}; create one with: pyjinn init {name})"
        )
    return directory


def build_function(
    directory: Path,
    *,
    force: bool = False,
    echo: Callable[[str], None] = print,
    debug: bool = False,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the function in ``directory`` unless its module is up to date (or ``force``);
    ``debug`` keeps names and debug information."""
    started = time.perf_counter()
    try:
        recipe = replace(load_recipe(directory), debug=debug)
    except RecipeError as error:
        echo(f"Failed to build {directory}: invalid recipe.")
        echo(_indent(str(error)))
        return BuildResult(directory.name, default_output(directory), False, str(error))

    if not force and is_up_to_date(recipe):
        echo(f"{recipe.output} is up to date.")
        return BuildResult(recipe.name, recipe.output, True, "up to date", up_to_date=True)

    try:
        with showing(progress, f"{recipe.output} ({recipe.lang})"):
            warnings = _compile_in_place(recipe)
    except CompileFailed as error:
        echo(f"Failed to build {recipe.output} ({recipe.lang}) in {_since(started)}:")
        echo(_indent(str(error)))
        return BuildResult(recipe.name, recipe.output, False, str(error))

    message = f"built in {_since(started)}"
    kind = ", with debug information" if debug else ""
    echo(f"Built {recipe.output} ({recipe.lang}{kind}) in {_since(started)}.")
    if warnings:
        echo(_indent(warnings))
        message = f"{message}, with warnings:\n{warnings}"
    return BuildResult(recipe.name, recipe.output, True, message)


def is_up_to_date(recipe: Recipe) -> bool:
    """True when the module exists, is newer than every input of the recipe, and was built
    with (or without) debug information as ``recipe.debug`` asks."""
    try:
        built = recipe.output.stat().st_mtime_ns
    except OSError:
        return False
    if _debug_marker(recipe.output).exists() != recipe.debug:
        return False
    return all(path.stat().st_mtime_ns < built for path in _inputs(recipe))


def _debug_marker(output: Path) -> Path:
    return output.with_name(f".{output.name}.debug")


def _inputs(recipe: Recipe) -> Iterator[Path]:
    output = recipe.output.absolute()
    seen: set[Path] = set()
    # Hidden files and directories (editor swap files, .zig-cache) are not inputs.
    candidates = [
        path
        for path in recipe.directory.rglob("*")
        if not any(part.startswith(".") for part in path.relative_to(recipe.directory).parts)
    ]
    for source in (*recipe.sources, *(path for _, path in recipe.modules)):
        candidates.extend(path for path in source.parent.iterdir() if not path.name.startswith("."))
    if recipe.lang in DEPENDENCY_FILES:
        candidates.extend(DEPENDENCY_FILES[recipe.lang](recipe))
    marker = _debug_marker(recipe.output).absolute()
    for path in candidates:
        absolute = path.absolute()
        if absolute in seen or absolute in (output, marker) or not path.is_file():
            continue
        seen.add(absolute)
        yield path


def _compile_in_place(recipe: Recipe) -> str:
    recipe.output.parent.mkdir(parents=True, exist_ok=True)
    # The module is written under its own name in a private directory beside it (linkers name
    # a module after its file, and a debug build shows that name in traces), then renamed.
    staging = recipe.output.with_name(f".{recipe.output.name}.{os.getpid()}.partial")
    partial = staging / recipe.output.name
    try:
        staging.mkdir(exist_ok=True)
        warnings = compile_recipe(recipe, partial)
        if not partial.is_file():
            raise CompileFailed(f"the compiler reported success but wrote no {partial}")
        os.replace(partial, recipe.output)
        marker = _debug_marker(recipe.output)
        if recipe.debug:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return warnings


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.2f} s"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
