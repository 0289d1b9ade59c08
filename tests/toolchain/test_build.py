"""build_all: what gets built, what is skipped as up to date, and how failures are reported.

These use WAT functions, which wasmtime assembles in milliseconds; compiler-specific behaviour
is in test_compilers.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.toolchain import (
    ToolchainError,
    build_all,
    build_function,
    is_up_to_date,
    load_recipe,
)

from .conftest import Invoke, make_request

# A complete WASI command that ignores its request and answers 200 "hi".
HELLO_WAT = r"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{\"status\":200,\"headers\":{},\"body\":\"hi\"}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 39))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""

Lines = list[str]
MakeWat = Callable[..., Path]


@pytest.fixture
def make_wat(tmp_path: Path) -> MakeWat:
    """``make_wat(name, text=HELLO_WAT) -> directory``: a WAT function under tmp/functions/."""

    def make(name: str = "hello", text: str = HELLO_WAT) -> Path:
        directory = tmp_path / "functions" / name
        directory.mkdir(parents=True)
        (directory / "main.wat").write_text(text)
        return directory

    return make


def age(path: Path, seconds: float) -> None:
    """Move a file's modification time into the past (or, negative, the future)."""
    stat = path.stat()
    shift = int(seconds * 1e9)
    os.utime(path, ns=(stat.st_atime_ns - shift, stat.st_mtime_ns - shift))


def test_every_function_is_built_into_functions_name_wasm(
    tmp_path: Path, make_wat: MakeWat, invoke: Invoke
) -> None:
    make_wat("alpha")
    make_wat("beta")
    lines: Lines = []

    results = build_all(tmp_path, echo=lines.append)

    assert [(result.name, result.ok, result.up_to_date) for result in results] == [
        ("alpha", True, False),
        ("beta", True, False),
    ]
    assert [result.output for result in results] == [
        tmp_path / "functions" / "alpha.wasm",
        tmp_path / "functions" / "beta.wasm",
    ]
    assert lines[0].startswith(f"Built {tmp_path}/functions/alpha.wasm (wat) in ")
    assert len(lines) == 2
    assert invoke(results[0].output, make_request()).body == "hi"


def test_a_second_build_reports_up_to_date_and_leaves_the_module_alone(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    make_wat("hello")
    build_all(tmp_path, echo=lambda line: None)
    output = tmp_path / "functions" / "hello.wasm"
    built_at = output.stat().st_mtime_ns
    lines: Lines = []

    (result,) = build_all(tmp_path, echo=lines.append)

    assert (result.ok, result.up_to_date, result.message) == (True, True, "up to date")
    assert lines == [f"{output} is up to date."]
    assert output.stat().st_mtime_ns == built_at


@pytest.mark.parametrize("touched", ["main.wat", "function.toml", "notes/extra.txt"])
def test_touching_any_file_of_the_function_rebuilds_it(
    tmp_path: Path, make_wat: MakeWat, touched: str
) -> None:
    directory = make_wat("hello")
    (directory / "function.toml").write_text('lang = "wat"\n')
    (directory / "notes").mkdir()
    (directory / "notes" / "extra.txt").write_text("")
    build_all(tmp_path, echo=lambda line: None)
    age(tmp_path / "functions" / "hello.wasm", 5)
    os.utime(directory / touched)

    (result,) = build_all(tmp_path, echo=lambda line: None)

    assert (result.ok, result.up_to_date) == (True, False)
    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.up_to_date


def test_hidden_files_such_as_editor_swap_files_do_not_trigger_a_rebuild(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    directory = make_wat("hello")
    build_all(tmp_path, echo=lambda line: None)
    age(directory / "main.wat", 10)
    age(tmp_path / "functions" / "hello.wasm", 5)
    (directory / ".main.wat.swp").write_text("")

    (result,) = build_all(tmp_path, echo=lambda line: None)

    assert result.up_to_date


def test_force_rebuilds_an_up_to_date_module(tmp_path: Path, make_wat: MakeWat) -> None:
    make_wat("hello")
    build_all(tmp_path, echo=lambda line: None)

    (result,) = build_all(tmp_path, force=True, echo=lambda line: None)

    assert (result.ok, result.up_to_date) == (True, False)


def test_a_shared_source_outside_the_function_and_its_neighbours_are_inputs(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "functions" / "fn"
    lib = tmp_path / "lib"
    directory.mkdir(parents=True)
    lib.mkdir()
    for path in (directory / "main.c", lib / "guest.c", lib / "guest.h"):
        path.write_text("")
    (directory / "function.toml").write_text('sources = ["main.c", "../../lib/guest.c"]\n')
    recipe = load_recipe(directory)
    recipe.output.write_bytes(b"")
    for path in (
        directory / "main.c",
        directory / "function.toml",
        lib / "guest.c",
        lib / "guest.h",
    ):
        age(path, 10)
    assert is_up_to_date(recipe)

    age(lib / "guest.h", -20)

    assert not is_up_to_date(recipe)


def test_a_custom_output_path_is_created_and_checked(tmp_path: Path, make_wat: MakeWat) -> None:
    directory = make_wat("hello")
    (directory / "function.toml").write_text('output = "../../dist/hello-v2.wasm"\n')

    (result,) = build_all(tmp_path, echo=lambda line: None)
    (again,) = build_all(tmp_path, echo=lambda line: None)

    assert result.output == tmp_path / "dist" / "hello-v2.wasm"
    assert result.output.is_file()
    assert again.up_to_date


def test_a_compile_error_is_a_failed_result_with_the_compilers_message(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    make_wat("broken", "(module (func $f (result i32) (i32.add)))")
    lines: Lines = []

    (result,) = build_all(tmp_path, echo=lines.append)

    assert result.ok is False
    assert result.output == tmp_path / "functions" / "broken.wasm"
    assert "main.wat" in result.message
    assert "type mismatch" in result.message
    assert lines[0].startswith(f"Failed to build {result.output} (wat) in ")
    assert lines[0].endswith(" s:")
    assert "type mismatch" in lines[1]
    assert not result.output.exists()


def test_a_failed_rebuild_keeps_the_previous_module_and_leaves_no_partial_file(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    directory = make_wat("hello")
    build_all(tmp_path, echo=lambda line: None)
    output = tmp_path / "functions" / "hello.wasm"
    previous = output.read_bytes()
    age(output, 5)
    (directory / "main.wat").write_text("(module (oops))")

    (result,) = build_all(tmp_path, echo=lambda line: None)

    assert result.ok is False
    assert output.read_bytes() == previous
    assert sorted(path.name for path in output.parent.iterdir()) == ["hello", "hello.wasm"]
    (again,) = build_all(tmp_path, echo=lambda line: None)
    assert again.ok is False, "a module older than its sources is rebuilt, not up to date"


def test_one_failing_function_does_not_stop_the_others(tmp_path: Path, make_wat: MakeWat) -> None:
    make_wat("a-broken", "(module (oops))")
    make_wat("b-fine")

    results = build_all(tmp_path, echo=lambda line: None)

    assert [(result.name, result.ok) for result in results] == [
        ("a-broken", False),
        ("b-fine", True),
    ]


def test_an_invalid_recipe_is_a_failed_result_not_an_exception(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    directory = make_wat("hello")
    (directory / "function.toml").write_text('lang = "cobol"\n')
    lines: Lines = []

    (result,) = build_all(tmp_path, echo=lines.append)

    assert result.ok is False
    assert result.message.startswith(f"{directory}/function.toml: lang must be one of")
    assert lines == [
        f"Failed to build {directory}: invalid recipe.",
        f"    {result.message}",
    ]


def test_a_root_without_functions_dir_is_misuse_and_says_what_was_expected(
    tmp_path: Path,
) -> None:
    with pytest.raises(ToolchainError) as raised:
        build_all(tmp_path, echo=lambda line: None)

    assert str(raised.value) == (
        f"{tmp_path}: no functions/ directory to build; expected {tmp_path}/functions/NAME/ "
        f"holding main.c, main.zig, main.wat, Cargo.toml, go.mod, main.ts, handler.py "
        f"(create one with: pyjinn init NAME --dir {tmp_path})"
    )


def test_an_empty_functions_dir_builds_nothing_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / ".hidden").mkdir()
    lines: Lines = []

    assert build_all(tmp_path, echo=lines.append) == []
    assert lines == [f"No functions to build in {tmp_path}/functions/."]


def test_without_ziglang_a_c_build_fails_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "functions" / "hello"
    directory.mkdir(parents=True)
    (directory / "main.c").write_text("int main(void) { return 0; }\n")
    monkeypatch.setitem(sys.modules, "ziglang", None)

    result = build_function(directory, echo=lambda line: None)

    assert result.ok is False
    assert result.message == (
        "the zig toolchain (Python package 'ziglang') is not installed; "
        "install it with: pip install 'pyjinn[build]'"
    )


@pytest.mark.slow
def test_a_zig_function_imports_a_module_named_in_its_recipe(tmp_path: Path) -> None:
    import wasmtime

    directory = tmp_path / "functions" / "z"
    directory.mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "greeting.zig").write_text('pub const text = "hi";\n')
    (directory / "main.zig").write_text(
        'const greeting = @import("greeting");\npub fn main() void {\n    _ = greeting.text;\n}\n'
    )
    (directory / "function.toml").write_text(
        'lang = "zig"\nmodules = { greeting = "../../lib/greeting.zig" }\n'
    )

    (result,) = build_all(tmp_path, echo=lambda line: None)

    assert result.ok, result.message
    wasmtime.Module(wasmtime.Engine(), result.output.read_bytes())
    # The module file is an input: changing it rebuilds.
    assert is_up_to_date(load_recipe(directory))
    age(result.output, 10)
    (tmp_path / "lib" / "greeting.zig").write_text('pub const text = "hello";\n')
    assert not is_up_to_date(load_recipe(directory))


def test_a_command_recipe_runs_its_own_toolchain_with_output_and_debug_given(
    tmp_path: Path, invoke: Invoke
) -> None:
    directory = tmp_path / "functions" / "custom"
    directory.mkdir(parents=True)
    (directory / "hello.wat").write_text(HELLO_WAT)
    # Any program will do; this one is Python, assembling the WAT it was given.
    script = (
        "import os, sys, wasmtime; "
        "open(sys.argv[1], 'wb').write(wasmtime.wat2wasm(open('hello.wat').read())); "
        "print('debug', os.environ['PYJINN_DEBUG'], os.environ['PYJINN_OUTPUT'] == sys.argv[1])"
    )
    (directory / "function.toml").write_text(
        f"command = [{sys.executable!r}, '-c', {script!r}, '{{output}}']\n"
    )
    lines: Lines = []

    result = build_function(directory, echo=lines.append, debug=True)

    assert result.ok, result.message
    assert result.output == tmp_path / "functions" / "custom.wasm"
    assert "debug 1 True" in result.message
    assert invoke(result.output, make_request()).body == "hi"
    assert (
        lines[0]
        == f"Built {result.output} (command, with debug information) in "
        + (lines[0].rsplit(" in ", 1)[1])
    )
    assert not build_function(directory, echo=lines.append, debug=True).message.startswith("built")
    failing = directory.parent / "failing"
    failing.mkdir()
    (failing / "function.toml").write_text(f"command = [{sys.executable!r}, '-c', 'exit(3)']\n")
    failed = build_function(failing, echo=lines.append)
    assert not failed.ok
    assert "exited with status 3" in failed.message


def test_a_debug_build_keeps_names_and_the_next_plain_build_replaces_it(
    tmp_path: Path, make_wat: MakeWat
) -> None:
    directory = make_wat(
        text=HELLO_WAT.replace('(func (export "_start")', '(func $main (export "_start")')
    )
    marker = tmp_path / "functions" / ".hello.wasm.debug"

    debug = build_function(directory, echo=lambda line: None, debug=True)
    assert debug.ok and marker.exists()
    assert b"main" in debug.output.read_bytes()  # the name section
    assert build_function(directory, echo=lambda line: None, debug=True).up_to_date

    plain = build_function(directory, echo=lambda line: None)
    assert not plain.up_to_date
    assert not marker.exists()
    assert build_function(directory, echo=lambda line: None).up_to_date


@pytest.mark.slow
def test_a_debug_c_build_has_dwarf_and_a_plain_one_does_not(tmp_path: Path) -> None:
    directory = tmp_path / "functions" / "c"
    directory.mkdir(parents=True)
    (directory / "main.c").write_text("int main(void) { return 0; }\n")

    plain = build_function(directory, echo=lambda line: None)
    assert plain.ok and b".debug_info" not in plain.output.read_bytes()
    debug = build_function(directory, echo=lambda line: None, debug=True)
    assert debug.ok and b".debug_info" in debug.output.read_bytes()


def test_progress_is_shown_around_each_compile_and_says_when_a_step_is_slow(
    make_wat: MakeWat, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import time

    from pyjinn.toolchain import progress as progress_module

    directory = make_wat()
    events: list[str] = []

    class Recorder:
        def begin(self, what: str) -> None:
            events.append(f"begin {what}")

        def step(self, text: str) -> None:
            events.append(f"step {text}")

        def end(self) -> None:
            events.append("end")

    build_function(directory, echo=lambda line: None, progress=Recorder())
    assert events == [f"begin {directory.parent / 'hello.wasm'} (wat)", "end"]

    monkeypatch.setattr(progress_module, "HINT_AFTER", 0.05)
    stream = io.StringIO()
    lines = progress_module.progress_for(stream)  # not a terminal: lines
    lines.begin("functions/x.wasm (c)")
    lines.step("compiling main.c")
    time.sleep(0.3)
    lines.end()
    written = stream.getvalue().splitlines()
    assert written[0] == "Building functions/x.wasm (c)…"
    assert written[1].startswith("Building functions/x.wasm (c): still working after 0 s (")
    assert "compiling main.c" in written[1] and "wasi-libc" in written[1]
