"""pyjinn.scaffold: `pyjinn init` creates a runnable project from a template (the function, the
SDK, the route in the Caddyfile, a .gitignore), and never overwrites.

That each template really compiles and answers, and that the project it makes serves at once,
is tested in tests/toolchain/test_templates.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn import scaffold
from pyjinn.config import load
from pyjinn.errors import PyjinnError
from pyjinn.scaffold import (
    LANGUAGES,
    ScaffoldError,
    create_function,
    create_project,
    sdk_directory,
)
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
    created = create_project(tmp_path, "hello-world_2", lang).function_dir

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
    # The C template also compiles the SDK copied into the project.
    assert (recipe.lang, recipe.sources[0]) == (lang, created / entry)
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
    monkeypatch.setattr(scaffold, "sdk_root", lambda: tmp_path / "nowhere")

    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, "hello", "go")

    assert str(raised.value) == (
        f"pyjinn's go SDK is not at {tmp_path}/nowhere/go: the SDKs ship in pyjinn's source tree "
        "(sdk/), so install pyjinn from a checkout (pip install -e .)"
    )
    assert not (tmp_path / "functions").exists()


@pytest.mark.parametrize(
    ("lang", "line", "copied"),
    [
        ("rust", 'pyjinn = { path = "../../sdk/rust" }', "rust/src/lib.rs"),
        ("go", "replace pyjinn => ../../sdk/go", "go/go.mod"),
        ("assemblyscript", "", "assemblyscript/pyjinn.ts"),
    ],
)
def test_a_project_gets_its_own_copy_of_the_sdk_and_depends_on_that(
    tmp_path: Path, lang: str, line: str, copied: str
) -> None:
    created = create_project(tmp_path, "hello", lang)

    assert (tmp_path / "sdk" / copied).is_file()
    assert (tmp_path / "sdk" / copied).read_bytes() == (
        sdk_directory(lang).parent / copied
    ).read_bytes()
    assert not list((tmp_path / "sdk").rglob(".target")), "build output is not copied"
    if line:
        assert line in (created.function_dir / MANIFESTS[lang]).read_text()


def test_a_python_project_routes_to_its_pyz(tmp_path: Path) -> None:
    create_project(tmp_path, "hello", "python")

    assert "pyjinn functions/hello.pyz" in (tmp_path / "Caddyfile").read_text()
    assert "functions/*.pyz" in (tmp_path / ".gitignore").read_text().splitlines()


def test_a_rust_function_name_starts_with_a_letter(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as raised:
        create_function(tmp_path, "9lives", "rust")

    assert str(raised.value) == (
        "invalid function name '9lives' for Rust: a Cargo package name starts with a letter"
    )


def test_a_new_project_gets_the_sdk_a_caddyfile_with_the_route_and_a_gitignore(
    tmp_path: Path,
) -> None:
    created = create_project(tmp_path, "hello", "c")

    assert created.caddyfile_created and created.route == "/hello"
    assert (tmp_path / "sdk" / "c" / "pyjinn.h").is_file()
    assert (tmp_path / "sdk" / "c" / "pyjinn.c").is_file()
    (tmp_path / "functions" / "hello.wasm").write_bytes(b"\0asm\x01\0\0\0")  # as if built
    config = load(tmp_path / "Caddyfile")
    [spec] = config.functions()
    assert (spec.name, spec.module_path) == ("hello", tmp_path / "functions" / "hello.wasm")
    assert [str(a) for a in config.sites[0].addresses] == [":8080"]
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert {"functions/*.wasm", "data/"} <= set(ignored)


def test_the_route_goes_into_the_first_site_of_an_existing_caddyfile(tmp_path: Path) -> None:
    (tmp_path / "Caddyfile").write_text(
        '# mine\n{\n\tadmin off\n}\n\n:9000 {\n\trespond /ping "pong"\n}\n'
    )
    (tmp_path / ".gitignore").write_text("secrets/\ndata/\n")

    created = create_project(tmp_path, "job-fn", "wat", "job")

    assert not created.caddyfile_created
    text = (tmp_path / "Caddyfile").read_text()
    assert text.startswith("# mine\n{\n\tadmin off\n}\n\n:9000 {\n\thandle /job-fn {\n")
    (tmp_path / "functions" / "job-fn.wasm").write_bytes(b"\0asm\x01\0\0\0")
    [spec] = load(tmp_path / "Caddyfile").functions()
    assert spec.jobs.always_async
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert ignored[:2] == ["secrets/", "data/"]
    assert ignored.count("data/") == 1 and "functions/*.wasm" in ignored


def test_a_caddyfile_that_already_routes_the_module_is_left_alone(tmp_path: Path) -> None:
    text = ":8080 {\n\tpyjinn functions/hello.wasm\n}\n"
    (tmp_path / "Caddyfile").write_text(text)

    created = create_project(tmp_path, "hello", "c")

    assert created.route is None and created.notes
    assert (tmp_path / "Caddyfile").read_text() == text


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
    with pytest.raises(ScaffoldError, match="unknown language 'cobol': expected one of c, "):
        create_project(tmp_path, "hello", "cobol")

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


def test_the_actor_template_writes_an_echo_actor_with_the_websocket_grant(tmp_path: Path) -> None:
    created = create_project(tmp_path, "echo-ws", "c", "actor")

    source = (created.function_dir / "main.c").read_text()
    assert "pyjinn_ws_upgrade()" in source and "pyjinn_ws_read(" in source
    assert "{{" not in source
    # The actor's source takes main.c's place; neither file is copied under another name.
    assert sorted(p.name for p in created.function_dir.iterdir()) == ["function.toml", "main.c"]
    caddyfile = (tmp_path / "Caddyfile").read_text()
    assert "\t\tpyjinn functions/echo-ws.wasm {\n\t\t\ttimeout 5m\n\t\t\tmax_duration 1h\n" in (
        caddyfile
    )
    assert "\t\t\tpermissions {\n\t\t\t\twebsocket\n\t\t\t}\n\t\t}\n\t}\n" in caddyfile


def test_the_hello_template_leaves_the_actor_source_out(tmp_path: Path) -> None:
    created = create_function(tmp_path, "hello", "c")

    assert not (created / "actor.c").exists()
    assert "Hello from hello" in (created / "main.c").read_text()


def test_the_actor_template_names_the_languages_that_have_it(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as raised:
        create_project(tmp_path, "echo-ws", "wat", "actor")

    assert str(raised.value) == (
        "the actor template is not available in wat: use --lang c or --lang zig"
    )
    assert not (tmp_path / "functions").exists() and not (tmp_path / "Caddyfile").exists()


def test_the_tool_template_makes_the_function_an_mcp_tool_of_its_site(tmp_path: Path) -> None:
    create_project(tmp_path, "greet", "wat", "tool")
    (tmp_path / "functions" / "greet.wasm").write_bytes(b"\0asm\x01\0\0\0")

    config = load(tmp_path / "Caddyfile")

    (spec,) = config.functions()
    assert spec.tool is not None
    assert (spec.tool.name, spec.tool.description) == (
        "greet",
        "Say hello from the pyjinn function greet",
    )


def test_bytecode_cached_beside_a_template_is_not_copied(tmp_path: Path) -> None:
    # Python caches bytecode under __pycache__ where a template's .py was ever compiled
    # (compileall over the package, say); a new function gets sources only.
    templates = Path(scaffold.__file__).parent / "templates" / "python"
    cache = templates / "__pycache__"
    made = not cache.exists()
    cache.mkdir(exist_ok=True)
    stray = cache / "handler.cpython-311.pyc"
    stray_made = not stray.exists()
    if stray_made:
        stray.write_bytes(b"\xa7\r\r\n\x00\x00\x00\x00")
    try:
        create_function(tmp_path, "hello", "python")
    finally:
        if stray_made:
            stray.unlink()
        if made:
            cache.rmdir()
    assert not list((tmp_path / "functions" / "hello").rglob("__pycache__"))
