"""function.toml recipes: defaults, detection, and an error that names the file for every
invalid value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.errors import PyjinnError
from pyjinn.toolchain import Recipe, RecipeError, load_recipe

MakeFunction = Callable[..., Path]


@pytest.fixture
def make_function(tmp_path: Path) -> MakeFunction:
    """``make_function(name, {"file": "text"}, recipe="toml") -> directory`` under functions/."""

    def make(
        name: str = "fn", files: dict[str, str] | None = None, recipe: str | None = None
    ) -> Path:
        directory = tmp_path / "functions" / name
        directory.mkdir(parents=True)
        for file_name, text in (files or {}).items():
            (directory / file_name).parent.mkdir(parents=True, exist_ok=True)
            (directory / file_name).write_text(text)
        if recipe is not None:
            (directory / "function.toml").write_text(recipe)
        return directory

    return make


def test_c_is_detected_from_main_c_and_builds_every_c_file(make_function: MakeFunction) -> None:
    directory = make_function("hello", {"main.c": "", "util.c": "", "util.h": ""})

    recipe = load_recipe(directory)

    assert recipe == Recipe(
        name="hello",
        directory=directory,
        lang="c",
        sources=(directory / "main.c", directory / "util.c"),
        output=directory.parent / "hello.wasm",
        flags=(),
    )


@pytest.mark.parametrize(("entry", "lang"), [("main.zig", "zig"), ("main.wat", "wat")])
def test_zig_and_wat_are_detected_from_their_entry_point(
    make_function: MakeFunction, entry: str, lang: str
) -> None:
    directory = make_function("fn", {entry: "", "helper.zig": ""})

    recipe = load_recipe(directory)

    assert (recipe.lang, recipe.sources) == (lang, (directory / entry,))


@pytest.mark.parametrize(
    ("files", "lang", "manifest"),
    [
        ({"Cargo.toml": "", "src/main.rs": ""}, "rust", "Cargo.toml"),
        ({"go.mod": "", "main.go": "", "util.go": ""}, "go", "go.mod"),
    ],
)
def test_rust_and_go_are_detected_from_their_manifest_which_is_their_source(
    make_function: MakeFunction, files: dict[str, str], lang: str, manifest: str
) -> None:
    directory = make_function("fn", files)

    recipe = load_recipe(directory)

    assert (recipe.lang, recipe.sources) == (lang, (directory / manifest,))
    assert recipe.output == directory.parent / "fn.wasm"


def test_function_toml_sets_sources_output_and_flags(make_function: MakeFunction) -> None:
    directory = make_function(
        "fn",
        {"src/a.c": "", "../../lib/shared.c": ""},
        'lang = "c"\nsources = ["src/a.c", "../../lib/shared.c"]\n'
        'output = "../../dist/fn.wasm"\nflags = ["-DX=1", "-I../../lib"]\n',
    )
    root = directory.parent.parent

    recipe = load_recipe(directory)

    assert recipe.sources == (directory / "src" / "a.c", root / "lib" / "shared.c")
    assert recipe.output == root / "dist" / "fn.wasm"
    assert recipe.flags == ("-DX=1", "-I../../lib")


def test_function_toml_without_lang_still_detects_it(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"main.wat": ""}, 'output = "../other.wasm"\n')

    assert load_recipe(directory).lang == "wat"


@pytest.mark.parametrize(
    ("files", "recipe", "expected"),
    [
        (
            {"main.c": ""},
            'lagn = "c"\n',
            "function.toml: unknown key 'lagn' (did you mean 'lang'?) "
            "(expected one of: lang, sources, output, flags, modules, command)",
        ),
        (
            {"main.c": ""},
            'lang = "cobol"\n',
            'function.toml: lang must be one of "c", "zig", "wat", "rust", "go", "assemblyscript", '
            "\"python\", not 'cobol'",
        ),
        (
            {"Cargo.toml": "", "main.rs": ""},
            'sources = ["main.rs"]\n',
            'function.toml: sources is not used for lang = "rust": cargo finds the sources from '
            "Cargo.toml",
        ),
        (
            {"go.mod": "", "main.go": ""},
            'sources = ["main.go"]\n',
            'function.toml: sources is not used for lang = "go": go build finds the sources from '
            "go.mod",
        ),
        (
            {"main.go": ""},
            'lang = "go"\n',
            "function.toml: a go function is a Go module, but there is no go.mod in",
        ),
        (
            {"src/main.rs": ""},
            'lang = "rust"\n',
            "function.toml: a rust function is a Cargo package, but there is no Cargo.toml in",
        ),
        ({"main.c": ""}, "lang = 3\n", "function.toml: lang must be one of"),
        (
            {"main.c": ""},
            'sources = "main.c"\n',
            'function.toml: sources must be a list of non-empty strings, like sources = ["..."], '
            "not 'main.c'",
        ),
        ({"main.c": ""}, "sources = []\n", "function.toml: sources is empty"),
        ({"main.c": ""}, 'sources = ["gone.c"]\n', "function.toml: source 'gone.c' does not exist"),
        (
            {"main.c": ""},
            'output = "fn.so"\n',
            'function.toml: output must be a path ending in .wasm, like output = "../fn.wasm", '
            "not 'fn.so'",
        ),
        ({"main.c": ""}, "flags = [1]\n", "function.toml: flags must be a list of non-empty"),
        (
            {"main.wat": ""},
            'flags = ["-O2"]\n',
            'function.toml: flags are not supported for lang = "wat"',
        ),
        (
            {"a.wat": "", "b.wat": ""},
            'lang = "wat"\nsources = ["a.wat", "b.wat"]\n',
            "function.toml: a WAT function is built from exactly one .wat file, not 2",
        ),
        (
            {"a.zig": "", "b.zig": ""},
            'lang = "zig"\nsources = ["a.zig", "b.zig"]\n',
            "function.toml: a Zig function is built from exactly one root .zig file",
        ),
        ({"main.c": ""}, 'lang = "c"\nlang = "zig"\n', "function.toml: invalid TOML"),
        ({}, 'lang = "zig"\n', "function.toml: source 'main.zig' does not exist"),
    ],
)
def test_an_invalid_recipe_is_an_error_naming_the_file(
    make_function: MakeFunction, files: dict[str, str], recipe: str, expected: str
) -> None:
    directory = make_function("fn", files, recipe)

    with pytest.raises(RecipeError) as raised:
        load_recipe(directory)

    assert str(raised.value).startswith(f"{directory}/")
    assert expected in str(raised.value)
    assert isinstance(raised.value, PyjinnError)


def test_a_directory_without_a_known_entry_point_says_what_was_expected(
    make_function: MakeFunction,
) -> None:
    directory = make_function("fn", {"README.md": ""})

    with pytest.raises(RecipeError) as raised:
        load_recipe(directory)

    assert str(raised.value) == (
        f"{directory}: cannot tell which language to build: expected one of main.c, main.zig, "
        'main.wat, Cargo.toml, go.mod, main.ts, handler.py, or a function.toml with lang = "c" | '
        '"zig" | "wat" | "rust" | "go" | "assemblyscript" | "python"'
    )


def test_two_entry_points_need_lang_to_choose(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"main.c": "", "main.zig": ""})

    with pytest.raises(RecipeError, match=r"found main\.c, main\.zig; say which with lang"):
        load_recipe(directory)

    (directory / "function.toml").write_text('lang = "zig"\n')
    assert load_recipe(directory).lang == "zig"


def test_c_without_any_c_file_is_an_error(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"notes.txt": ""}, 'lang = "c"\n')

    with pytest.raises(RecipeError, match=r"no \*\.c files to build"):
        load_recipe(directory)


def test_zig_modules_resolve_against_the_function_directory(make_function: MakeFunction) -> None:
    directory = make_function(
        "fn",
        {"main.zig": "", "../../sdk/pyjinn.zig": ""},
        'lang = "zig"\nmodules = { pyjinn = "../../sdk/pyjinn.zig" }\n',
    )

    recipe = load_recipe(directory)

    assert recipe.modules == (("pyjinn", directory.parent.parent / "sdk" / "pyjinn.zig"),)


@pytest.mark.parametrize(
    ("files", "recipe", "message"),
    [
        ({"main.c": ""}, 'lang = "c"\nmodules = { m = "m.zig" }\n', 'modules are for lang = "zig"'),
        ({"main.zig": ""}, 'modules = ["m.zig"]\n', "modules must map module names"),
        ({"main.zig": ""}, 'modules = { m = "missing.zig" }\n', "module 'm': file not found"),
    ],
)
def test_invalid_zig_modules_are_errors_naming_the_file(
    make_function: MakeFunction, files: dict[str, str], recipe: str, message: str
) -> None:
    directory = make_function("fn", files, recipe)

    with pytest.raises(RecipeError) as raised:
        load_recipe(directory)

    assert str(raised.value).startswith(f"{directory / 'function.toml'}: ")
    assert message in str(raised.value)


def test_python_is_detected_from_handler_py_and_bundles_every_py_file_into_a_pyz(
    make_function: MakeFunction,
) -> None:
    files = {"handler.py": "", "lib/util.py": "", ".hidden/x.py": "", "__pycache__/c.py": ""}
    directory = make_function("greet", {**files, "notes.txt": ""})

    recipe = load_recipe(directory)

    assert (recipe.lang, recipe.output) == ("python", directory.parent / "greet.pyz")
    assert recipe.sources == (directory / "handler.py", directory / "lib" / "util.py")


def test_a_python_function_without_handler_py_is_refused(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"main.py": ""}, recipe='lang = "python"\n')

    with pytest.raises(RecipeError, match=r"needs a handler\.py"):
        load_recipe(directory)


def test_python_output_must_be_a_pyz_and_takes_no_flags(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"handler.py": ""}, recipe='output = "../fn.wasm"\n')
    with pytest.raises(RecipeError, match=r"output must be a path ending in \.pyz"):
        load_recipe(directory)
    (directory / "function.toml").write_text('flags = ["-O"]\n')
    with pytest.raises(RecipeError, match='flags are not supported for lang = "python"'):
        load_recipe(directory)


def test_assemblyscript_is_detected_from_main_ts(make_function: MakeFunction) -> None:
    directory = make_function("fn", {"main.ts": "", "other.ts": ""})

    recipe = load_recipe(directory)

    assert (recipe.lang, recipe.sources, recipe.output) == (
        "assemblyscript",
        (directory / "main.ts",),
        directory.parent / "fn.wasm",
    )


def test_a_command_recipe_needs_no_language_and_refuses_compiler_keys(
    make_function: MakeFunction,
) -> None:
    directory = make_function("made", {"Makefile": "all:\n"}, 'command = ["make", "OUT={output}"]')
    recipe = load_recipe(directory)
    assert (recipe.lang, recipe.command, recipe.sources) == (
        "command",
        ("make", "OUT={output}"),
        (),
    )
    assert recipe.output == directory.parent / "made.wasm"

    for text, message in [
        ("command = []", "command is empty"),
        ('command = ["make"]\nflags = ["-O2"]', "flags has no meaning with command"),
        ('command = "make"', "command must be a list of non-empty strings"),
        ('command = ["make"]\nsources = ["nope.c"]', "source 'nope.c' does not exist"),
    ]:
        (directory / "function.toml").write_text(text)
        with pytest.raises(RecipeError, match=message):
            load_recipe(directory)
