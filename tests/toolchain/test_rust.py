"""Rust functions: cargo builds the function's Cargo package for WASI with the first toolchain
that has the WASI standard library, and reports what it said."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pyjinn.toolchain import CompileFailed, build_function, is_up_to_date, load_recipe, rust
from pyjinn.toolchain.rust import find_rust

from .conftest import Invoke, built_later, make_request

MANIFEST = """[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]
{dependencies}
"""

ANSWER = r"""
use std::io::{Read, Write};
fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).unwrap();
    let out = format!("{{\"status\":200,\"headers\":{{}},\"body\":\"{} bytes\"}}", input.len());
    std::io::stdout().write_all(out.as_bytes()).unwrap();
}
"""


def make_package(root: Path, name: str, files: dict[str, str], dependencies: str = "") -> Path:
    directory = root / "functions" / name
    for file_name, text in {
        "Cargo.toml": MANIFEST.format(name=name, dependencies=dependencies),
        **files,
    }.items():
        (directory / file_name).parent.mkdir(parents=True, exist_ok=True)
        (directory / file_name).write_text(text)
    return directory


@pytest.fixture
def rust_toolchain() -> None:
    try:
        find_rust()
    except CompileFailed as error:
        pytest.skip(str(error))


@pytest.mark.slow
def test_a_std_only_package_builds_into_a_module_that_answers(
    tmp_path: Path, invoke: Invoke, rust_toolchain: None
) -> None:
    directory = make_package(tmp_path, "answer", {"src/main.rs": ANSWER})

    result = build_function(directory, echo=lambda line: None)

    assert result.ok, result.message
    assert result.message.startswith("built in ")  # cargo's status lines are not warnings
    assert invoke(result.output, b"12345").body == "5 bytes"
    assert (directory / ".target").is_dir()  # hidden: never an input of the build
    assert is_up_to_date(load_recipe(directory))


@pytest.mark.slow
def test_a_compile_error_returns_cargos_message_naming_the_file(
    tmp_path: Path, rust_toolchain: None
) -> None:
    source = "fn main() {\n    undefined_name();\n}\n"
    directory = make_package(tmp_path, "broken", {"src/main.rs": source})
    lines: list[str] = []

    result = build_function(directory, echo=lines.append)

    assert result.ok is False
    assert "error[E0425]: cannot find function `undefined_name` in this scope" in result.message
    assert "src/main.rs:2:5" in result.message
    assert lines[0].startswith(f"Failed to build {result.output} (rust) in ")
    assert not result.output.exists()


@pytest.mark.slow
def test_warnings_are_reported_with_a_successful_build(
    tmp_path: Path, rust_toolchain: None
) -> None:
    source = "fn main() {\n    let unused = 1;\n}\n"
    directory = make_package(tmp_path, "warns", {"src/main.rs": source})

    result = build_function(directory, echo=lambda line: None)

    assert result.ok, result.message
    assert "unused variable: `unused`" in result.message
    assert "Compiling" not in result.message and "Finished" not in result.message


@pytest.mark.slow
def test_a_package_with_several_binaries_must_name_one(
    tmp_path: Path, invoke: Invoke, rust_toolchain: None
) -> None:
    files = {"src/bin/first.rs": ANSWER, "src/bin/second.rs": "fn main() {}\n"}
    directory = make_package(tmp_path, "two", files)

    result = build_function(directory, echo=lambda line: None)

    assert result.ok is False
    assert result.message.endswith(
        'cargo built several binaries (first, second); pick one with flags = ["--bin", NAME]'
    )
    (directory / "function.toml").write_text('flags = ["--bin", "first"]\n')
    chosen = build_function(directory, echo=lambda line: None)
    assert chosen.ok, chosen.message
    assert invoke(chosen.output, make_request()).body.endswith(" bytes")


def test_a_path_dependency_is_an_input_of_the_build(tmp_path: Path) -> None:
    library = tmp_path / "library"
    (library / "src").mkdir(parents=True)
    (library / "src" / "lib.rs").write_text("")
    (library / ".target").mkdir()  # hidden files of a dependency are not inputs
    directory = make_package(
        tmp_path, "uses", {"src/main.rs": ""}, dependencies='library = { path = "../../library" }'
    )
    recipe = load_recipe(directory)
    built = built_later(recipe.output)
    (library / ".target" / "later").write_text("")
    os.utime(library / ".target" / "later", ns=(built + 1, built + 1))
    assert is_up_to_date(recipe)

    os.utime(library / "src" / "lib.rs", ns=(built + 1, built + 1))

    assert not is_up_to_date(recipe)


def test_without_a_wasi_toolchain_the_error_says_how_to_install_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rust, "DEBIAN_RUSTC", tmp_path / "absent")

    with pytest.raises(CompileFailed) as raised:
        find_rust()

    assert str(raised.value) == (
        "no Rust toolchain can build for WASI (no rustc on PATH or at /usr/bin/rustc); install "
        "Debian's (as root): apt-get install rustc cargo libstd-rust-dev-wasm32; or, with "
        "rustup: rustup target add wasm32-wasip1"
    )


def test_a_rustc_without_the_wasi_standard_library_is_passed_over_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for a rustc that has only its host's standard library (rustup's default): the
    # real one is not on every machine, and what is tested is how pyjinn reads the answers.
    (tmp_path / "sysroot" / "lib" / "rustlib" / "x86_64-unknown-linux-gnu").mkdir(parents=True)
    rustc = tmp_path / "rustc"
    rustc.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--print" ]; then echo {tmp_path}/sysroot; else echo rustc 1.95.0; fi\n'
    )
    rustc.chmod(rustc.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rust, "DEBIAN_RUSTC", tmp_path / "absent")

    with pytest.raises(CompileFailed) as raised:
        find_rust()

    assert str(raised.value).startswith(
        f"no Rust toolchain can build for WASI (rustc 1.95.0 at {rustc} (no wasm32-wasip1 or "
        "wasm32-wasi standard library)); install Debian's"
    )
