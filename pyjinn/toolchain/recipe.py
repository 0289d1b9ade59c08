"""How one function is built: its ``function.toml`` recipe, checked, with defaults filled in.

A function is a directory ``functions/NAME/``. Its recipe may set::

    lang = "c"                      # "c", "zig", "wat", "rust", "go", "assemblyscript" or
                                    # "python"; detected from main.c, main.zig, main.wat,
                                    # Cargo.toml, go.mod, main.ts or handler.py
    sources = ["main.c", "util.c"]  # default: every *.c (C), main.zig (Zig), main.wat (WAT),
                                    # main.ts (AssemblyScript: the entry first, then files it
                                    # imports, so a change to them rebuilds), every *.py (Python)
    output = "../NAME.wasm"         # the default (Python: "../NAME.pyz", a zip of the sources)
    flags = ["-DNDEBUG"]            # extra compiler flags (C, Zig, AssemblyScript: "--debug"),
                                    # or extra arguments of cargo build (Rust) and go build (Go)
    command = ["make", "OUT={output}"]  # any toolchain: run this instead (see below)

A Rust function is a Cargo package and a Go function a Go module: cargo and go find their own
sources, so ``sources`` is for C, Zig, WAT, AssemblyScript and Python only (and is the manifest
for Rust and Go).

Paths in the recipe, and relative paths in ``flags``, are relative to the function's directory,
because that is where the compiler runs. Without a ``function.toml`` every key takes its default.

``command`` is the escape hatch for toolchains pyjinn does not know: the program and its
arguments, run in the function's directory with ``{output}`` replaced by the file to write
(also in the environment as ``PYJINN_OUTPUT``; ``PYJINN_DEBUG=1`` for ``pyjinn build --debug``).
``lang`` may then be left out; every file of the directory is an input.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyjinn.errors import PyjinnError

RECIPE_FILE = "function.toml"
LANGUAGES = ("c", "zig", "wat", "rust", "go", "assemblyscript", "python")
ENTRY_POINTS = {
    "c": "main.c",
    "zig": "main.zig",
    "wat": "main.wat",
    "rust": "Cargo.toml",
    "go": "go.mod",
    "assemblyscript": "main.ts",
    "python": "handler.py",
}
# Languages whose build tool finds the sources from a manifest (the entry point).
MANIFEST_LANGUAGES = ("rust", "go")
# What a language's build writes, when it is not a WebAssembly module.
OUTPUT_SUFFIXES = {"python": ".pyz"}
KNOWN_KEYS = ("lang", "sources", "output", "flags", "modules", "command")
CUSTOM = "command"  # the language of a recipe built by its own command


class ToolchainError(PyjinnError):
    """Building functions was asked for in a way that cannot work (no functions/ directory)."""


class RecipeError(ToolchainError):
    """A function's recipe is invalid or incomplete; the message names the file."""


@dataclass(frozen=True)
class Recipe:
    """Everything needed to build one function. Paths are the function directory joined with the
    recipe's relative paths, so they read as the user wrote them (``examples/functions/...``)."""

    name: str
    directory: Path
    lang: str
    sources: tuple[Path, ...]
    output: Path
    flags: tuple[str, ...] = ()
    # Zig modules the root imports by name (``@import("pyjinn")``), each a file path.
    modules: tuple[tuple[str, Path], ...] = ()
    # The recipe's own build command (``{output}`` stands for the module to write).
    command: tuple[str, ...] = ()
    # Keep names and DWARF debug information (``pyjinn build --debug``).
    debug: bool = False


def is_function_directory(directory: Path) -> bool:
    """Whether ``directory`` holds a function's sources: a recipe or a known entry point."""
    return (directory / RECIPE_FILE).is_file() or any(
        (directory / entry).is_file() for entry in ENTRY_POINTS.values()
    )


def default_output(directory: Path, lang: str = "c") -> Path:
    """Where a function's module goes unless its recipe says otherwise: ``functions/NAME.wasm``
    (``functions/NAME.pyz`` for Python)."""
    return directory.parent / f"{directory.name}{OUTPUT_SUFFIXES.get(lang, '.wasm')}"


def load_recipe(directory: Path) -> Recipe:
    """Read ``directory/function.toml`` (if any), check it, and fill in the defaults.

    Raises ``RecipeError`` for invalid TOML, an unknown key, a value of the wrong type or range,
    a source file that does not exist, or a language that cannot be told from the files.
    """
    recipe_path = directory / RECIPE_FILE
    table = _read_table(recipe_path) if recipe_path.is_file() else {}
    where = recipe_path if recipe_path.is_file() else directory

    for key in table:
        if key not in KNOWN_KEYS:
            raise RecipeError(
                f"{recipe_path}: unknown key {key!r}{_suggestion(key)} "
                f"(expected one of: {', '.join(KNOWN_KEYS)})"
            )

    if "command" in table:
        return _custom_recipe(table, recipe_path, directory)
    lang = _read_lang(table, recipe_path) if "lang" in table else _detect_lang(directory, where)
    sources = _read_sources(table, recipe_path, directory, lang)
    output = _read_output(table, recipe_path, directory, lang)
    flags = _read_string_list(table, "flags", recipe_path) if "flags" in table else ()
    if flags and lang in ("wat", "python"):
        raise RecipeError(
            f'{recipe_path}: flags are not supported for lang = "{lang}" (its build takes no '
            "options)"
        )
    modules = _read_modules(table, recipe_path, directory, lang) if "modules" in table else ()
    return Recipe(directory.name, directory, lang, sources, output, flags, modules)


def _custom_recipe(table: dict[str, Any], recipe_path: Path, directory: Path) -> Recipe:
    command = _read_string_list(table, "command", recipe_path)
    if not command:
        raise RecipeError(
            f'{recipe_path}: command is empty; like command = ["make", "OUT={{output}}"]'
        )
    for key in ("flags", "modules"):
        if key in table:
            raise RecipeError(f"{recipe_path}: {key} has no meaning with command (pass them in it)")
    lang = _read_lang(table, recipe_path) if "lang" in table else CUSTOM
    sources: tuple[Path, ...] = ()
    if "sources" in table:
        names = _read_string_list(table, "sources", recipe_path)
        sources = tuple(_join(directory, name) for name in names)
        for name, source in zip(names, sources, strict=True):
            if not source.is_file():
                raise RecipeError(
                    f"{recipe_path}: source {name!r} does not exist (looked for {source})"
                )
    output = _read_output(table, recipe_path, directory, lang)
    return Recipe(directory.name, directory, lang, sources, output, command=command)


def _read_modules(
    table: dict[str, Any], recipe_path: Path, directory: Path, lang: str
) -> tuple[tuple[str, Path], ...]:
    value = table["modules"]
    if lang != "zig":
        raise RecipeError(f'{recipe_path}: modules are for lang = "zig" only')
    if not isinstance(value, dict) or not all(
        isinstance(name, str) and name.isidentifier() and isinstance(path, str) and path
        for name, path in value.items()
    ):
        raise RecipeError(
            f"{recipe_path}: modules must map module names to .zig files, "
            f'like modules = {{ pyjinn = "../../sdk/zig/pyjinn.zig" }}, not {value!r}'
        )
    modules = tuple((name, _join(directory, path)) for name, path in value.items())
    for (name, path), text in zip(modules, value.values(), strict=True):
        if not path.is_file():
            raise RecipeError(f"{recipe_path}: module {name!r}: file not found: {text}")
    return modules


def _read_table(recipe_path: Path) -> dict[str, Any]:
    try:
        with recipe_path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{recipe_path}: invalid TOML: {error}") from error
    except (OSError, UnicodeDecodeError) as error:
        raise RecipeError(f"{recipe_path}: cannot read: {error}") from error


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _read_lang(table: dict[str, Any], recipe_path: Path) -> str:
    lang = table["lang"]
    if lang not in LANGUAGES:
        choices = ", ".join(f'"{choice}"' for choice in LANGUAGES)
        raise RecipeError(f"{recipe_path}: lang must be one of {choices}, not {lang!r}")
    return str(lang)


def _detect_lang(directory: Path, where: Path) -> str:
    found = [lang for lang, entry in ENTRY_POINTS.items() if (directory / entry).is_file()]
    if len(found) == 1:
        return found[0]
    choices = " | ".join(f'"{lang}"' for lang in LANGUAGES)
    if found:
        entries = ", ".join(ENTRY_POINTS[lang] for lang in found)
        raise RecipeError(
            f"{where}: cannot tell which language to build: found {entries}; "
            f"say which with lang = {choices} in {RECIPE_FILE}"
        )
    entries = ", ".join(ENTRY_POINTS.values())
    raise RecipeError(
        f"{where}: cannot tell which language to build: expected one of "
        f"{entries}, or a {RECIPE_FILE} with lang = {choices}"
    )


def _read_string_list(table: dict[str, Any], key: str, recipe_path: Path) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise RecipeError(
            f"{recipe_path}: {key} must be a list of non-empty strings, "
            f'like {key} = ["..."], not {value!r}'
        )
    return tuple(value)


def _read_sources(
    table: dict[str, Any], recipe_path: Path, directory: Path, lang: str
) -> tuple[Path, ...]:
    if "sources" in table and lang in MANIFEST_LANGUAGES:
        raise RecipeError(
            f'{recipe_path}: sources is not used for lang = "{lang}": '
            f"{'cargo' if lang == 'rust' else 'go build'} finds the sources from "
            f"{ENTRY_POINTS[lang]}"
        )
    if "sources" in table:
        names = _read_string_list(table, "sources", recipe_path)
        if not names:
            raise RecipeError(f"{recipe_path}: sources is empty; list at least one file")
        where = recipe_path
    elif lang == "c":
        names = tuple(sorted(path.name for path in directory.glob("*.c") if path.is_file()))
        if not names:
            raise RecipeError(
                f"{directory}: no *.c files to build; add main.c "
                f"or list the files in sources = [...] in {RECIPE_FILE}"
            )
        where = directory
    elif lang == "python":
        names = tuple(
            sorted(
                path.relative_to(directory).as_posix()
                for path in directory.rglob("*.py")
                if path.is_file()
                and not any(
                    part.startswith(".") or part == "__pycache__"
                    for part in path.relative_to(directory).parts
                )
            )
        )
        where = directory
    else:
        names = (ENTRY_POINTS[lang],)
        where = recipe_path if recipe_path.is_file() else directory
        if lang in MANIFEST_LANGUAGES and not (directory / names[0]).is_file():
            kind = "a Cargo package" if lang == "rust" else "a Go module"
            raise RecipeError(
                f"{where}: a {lang} function is {kind}, but there is no {names[0]} in "
                f"{directory} (pyjinn init NAME --lang {lang} writes one)"
            )

    sources = tuple(_join(directory, name) for name in names)
    for name, source in zip(names, sources, strict=True):
        if not source.is_file():
            raise RecipeError(f"{where}: source {name!r} does not exist (looked for {source})")

    if lang == "python" and ENTRY_POINTS["python"] not in names:
        raise RecipeError(
            f"{where}: a Python function needs a handler.py (defining handle(request)) at its "
            "top, among its sources"
        )
    if lang == "wat" and len(sources) != 1:
        raise RecipeError(
            f"{where}: a WAT function is built from exactly one .wat file, not {len(sources)}"
        )
    zig_roots = sum(source.suffix == ".zig" for source in sources)
    if lang == "zig" and zig_roots != 1:
        raise RecipeError(
            f"{where}: a Zig function is built from exactly one root .zig file "
            f"(it @imports the others), not {zig_roots}"
        )
    return sources


def _read_output(table: dict[str, Any], recipe_path: Path, directory: Path, lang: str) -> Path:
    if "output" not in table:
        return default_output(directory, lang)
    output = table["output"]
    suffix = OUTPUT_SUFFIXES.get(lang, ".wasm")
    if not isinstance(output, str) or not output.endswith(suffix):
        raise RecipeError(
            f"{recipe_path}: output must be a path ending in {suffix}, "
            f'like output = "../{directory.name}{suffix}", not {output!r}'
        )
    return _join(directory, output)


def _join(directory: Path, relative: str) -> Path:
    """``directory/relative`` with ``..`` folded away, so ``../hello.wasm`` reads as it should."""
    return Path(os.path.normpath(directory / relative))
