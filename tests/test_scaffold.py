"""pyjinn.scaffold: `pyjinn init` creates a function from a template, and never overwrites.

That each template really compiles and answers is tested in tests/toolchain/test_templates.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn import scaffold
from pyjinn.errors import PyjinnError
from pyjinn.scaffold import LANGUAGES, ScaffoldError, create_function, sdk_directory
from pyjinn.toolchain import load_recipe

SOURCES = {
    "c": "main.c",
    "zig": "main.zig",
    "wat": "main.wat",
    "rust": "src/main.rs",
    "go": "main.go",
    "assemblyscript": "main.ts",
    "python": "handler.py",
}
# A Rust function is a Cargo package, a Go function a Go module: the recipe builds the manifest.
MANIFESTS = {"rust": "Cargo.toml", "go": "go.mod"}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_creates_the_source_and_recipe_with_the_name_filled_in(tmp_path: Path, lang: str) -> None:
    created = create_function(tmp_path, "hello-world_2", lang)

    assert created == tmp_path / "functions" / "hello-world_2"
    files = [str(path.relative_to(created)) for path in created.rglob("*") if path.is_file()]
    expected = ["function.toml", SOURCES[lang], *([MANIFESTS[lang]] if lang in MANIFESTS else [])]
    assert sorted(files) == sorted(expected)
    source = (created / SOURCES[lang]).read_text()
    assert "Hello from hello-world_2" in source
    for name in files:
        assert "{{" not in (created / name).read_text(), f"a placeholder is left in {name}"
    recipe = load_recipe(created)
    entry = MANIFESTS.get(lang, SOURCES[lang])
    assert (recipe.lang, recipe.sources) == (lang, (created / entry,))
    suffix = ".pyz" if lang == "python" else ".wasm"
    assert recipe.output == tmp_path / "functions" / f"hello-world_2{suffix}"


@pytest.mark.parametrize(
    ("lang", "line"), [("rust", 'pyjinn = { path = "SDK" }'), ("go", "=> SDK")]
)
def test_rust_and_go_functions_depend_on_the_sdk_in_pyjinns_source_tree(
    tmp_path: Path, lang: str, line: str
) -> None:
    created = create_function(tmp_path, "hello", lang)

    sdk = Path(__file__).resolve().parents[1] / "sdk" / lang
    assert sdk_directory(lang) == sdk
    assert line.replace("SDK", str(sdk)) in (created / MANIFESTS[lang]).read_text()


def test_rust_and_go_need_the_sdk_and_say_where_it_was_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scaffold, "SDK_ROOT", tmp_path / "nowhere")

    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, "hello", "go")

    assert str(raised.value) == (
        f"pyjinn's go SDK is not at {tmp_path}/nowhere/go: the SDKs ship in pyjinn's source tree "
        "(sdk/), so install pyjinn from a checkout (pip install -e .)"
    )
    assert not (tmp_path / "functions").exists()


def test_a_rust_function_name_starts_with_a_letter(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, "9lives", "rust")

    assert str(raised.value) == (
        "invalid function name '9lives' for Rust: a Cargo package name starts with a letter"
    )


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
    with pytest.raises(
        ScaffoldError, match="unknown language 'cobol': expected one of c, zig, wat"
    ):
        create_function(tmp_path, "hello", "cobol")

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
