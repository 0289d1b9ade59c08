"""pyjinn.scaffold: `pyjinn init` creates a function from a template, and never overwrites.

That each template really compiles and answers is tested in tests/toolchain/test_templates.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.errors import PyjinnError
from pyjinn.scaffold import LANGUAGES, ScaffoldError, create_function
from pyjinn.toolchain import load_recipe

SOURCES = {
    "c": "main.c",
    "zig": "main.zig",
    "wat": "main.wat",
    "assemblyscript": "main.ts",
    "python": "handler.py",
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_creates_the_source_and_recipe_with_the_name_filled_in(tmp_path: Path, lang: str) -> None:
    created = create_function(tmp_path, "hello-world_2", lang)

    assert created == tmp_path / "functions" / "hello-world_2"
    assert sorted(path.name for path in created.iterdir()) == ["function.toml", SOURCES[lang]]
    source = (created / SOURCES[lang]).read_text()
    assert "Hello from hello-world_2" in source
    assert "{{name}}" not in source
    assert "{{name}}" not in (created / "function.toml").read_text()
    recipe = load_recipe(created)
    assert (recipe.lang, recipe.sources) == (lang, (created / SOURCES[lang],))
    suffix = ".pyz" if lang == "python" else ".wasm"
    assert recipe.output == tmp_path / "functions" / f"hello-world_2{suffix}"


def test_creates_the_project_and_functions_dirs_when_missing(tmp_path: Path) -> None:
    root = tmp_path / "new-project"

    created = create_function(root, "hello", "c")

    assert (created / "main.c").is_file()


def test_existing_functions_are_left_alone(tmp_path: Path) -> None:
    create_function(tmp_path, "first", "c")

    create_function(tmp_path, "second", "wat")

    assert sorted(path.name for path in (tmp_path / "functions").iterdir()) == ["first", "second"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Hello",
        "-leading-dash",
        "_leading_underscore",
        "has space",
        "a/b",
        "../up",
        "é",
        "dot.ted",
        "trailing\n",
    ],
)
def test_rejects_a_name_that_is_not_lowercase_letters_digits_dash_underscore(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, name, "c")

    assert str(raised.value) == (
        f"invalid function name {name!r}: use lowercase letters, digits, '-' and '_', "
        "starting with a letter or digit (like 'hello' or 'resize-image')"
    )
    assert not (tmp_path / "functions").exists()


@pytest.mark.parametrize("name", ["a", "0", "fn-1_b", "9lives"])
def test_accepts_names_starting_with_a_letter_or_digit(tmp_path: Path, name: str) -> None:
    assert create_function(tmp_path, name, "wat").is_dir()


def test_rejects_an_unknown_language(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="unknown language 'rust': expected one of c, zig, wat"):
        create_function(tmp_path, "hello", "rust")

    assert not (tmp_path / "functions").exists()


def test_refuses_to_overwrite_an_existing_function(tmp_path: Path) -> None:
    existing = tmp_path / "functions" / "hello"
    existing.mkdir(parents=True)
    (existing / "main.c").write_text("/* mine */\n")

    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, "hello", "zig")

    assert str(raised.value) == (
        f"{existing} already exists; pick another name or remove it first (nothing was changed)"
    )
    assert sorted(path.name for path in existing.iterdir()) == ["main.c"]
    assert (existing / "main.c").read_text() == "/* mine */\n"


def test_scaffold_errors_are_pyjinn_errors() -> None:
    assert issubclass(ScaffoldError, PyjinnError)
