"""The real compilers: C and Zig through the ziglang wheel, AssemblyScript through asc from npm,
Python into a .pyz; run in the function's directory."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from pyjinn.toolchain import assemblyscript, build_function

from .conftest import Invoke, make_request

pytestmark = pytest.mark.slow

RESPOND_C = r"""
#include <string.h>
#include <unistd.h>
#include "answer.h"
int main(void) {
    const char *out = "{\"status\":200,\"headers\":{},\"body\":\"" ANSWER "\"}";
    return write(1, out, strlen(out)) == (long)strlen(out) ? 0 : 1;
}
"""


def make_function(root: Path, name: str, files: dict[str, str]) -> Path:
    directory = root / "functions" / name
    directory.mkdir(parents=True)
    for file_name, text in files.items():
        (directory / file_name).write_text(text)
    return directory


def quiet(line: str) -> None:
    pass


def test_c_sources_compile_with_the_function_dir_on_the_include_path_and_extra_flags(
    tmp_path: Path, invoke: Invoke
) -> None:
    directory = make_function(
        tmp_path,
        "answer",
        {
            "main.c": RESPOND_C,
            "answer.h": '#ifndef ANSWER\n#define ANSWER "default"\n#endif\n',
            "function.toml": 'flags = ["-DANSWER=\\"from flags\\""]\n',
        },
    )

    result = build_function(directory, echo=quiet)

    assert result.ok, result.message
    assert invoke(result.output, make_request()).body == "from flags"
    assert sorted(path.name for path in directory.iterdir()) == [
        "answer.h",
        "function.toml",
        "main.c",
    ], "the compiler leaves no stray files behind"


def test_a_c_compile_error_returns_the_compilers_message_naming_the_file(tmp_path: Path) -> None:
    directory = make_function(
        tmp_path,
        "broken",
        {
            "main.c": "int main(void) {\n    return undefined_name;\n}\n",
        },
    )
    lines: list[str] = []

    result = build_function(directory, echo=lines.append)

    assert result.ok is False
    assert "main.c:2:12: error: use of undeclared identifier 'undefined_name'" in result.message
    assert lines[0].startswith(f"Failed to build {result.output} (c) in ")
    assert any("undeclared identifier" in line for line in lines[1:])
    assert not result.output.exists()


def test_c_warnings_are_reported_with_a_successful_build(tmp_path: Path) -> None:
    directory = make_function(
        tmp_path,
        "warns",
        {
            "main.c": "int main(void) {\n    int unused;\n    return 0;\n}\n",
            "function.toml": 'flags = ["-Wall"]\n',
        },
    )
    lines: list[str] = []

    result = build_function(directory, echo=lines.append)

    assert result.ok
    assert "unused variable 'unused'" in result.message
    assert any("unused variable" in line for line in lines[1:])


def test_a_zig_compile_error_returns_the_compilers_message(tmp_path: Path) -> None:
    directory = make_function(
        tmp_path,
        "broken",
        {
            "main.zig": "pub fn main() void {\n    undefined_name();\n}\n",
        },
    )

    result = build_function(directory, echo=quiet)

    assert result.ok is False
    assert "main.zig:2:5: error: use of undeclared identifier 'undefined_name'" in result.message
    assert sorted(path.name for path in directory.iterdir()) == ["main.zig"]


def test_zig_builds_leave_no_stray_files_in_the_function_dir(
    tmp_path: Path, invoke: Invoke
) -> None:
    directory = make_function(
        tmp_path,
        "fine",
        {
            "main.zig": (
                'const std = @import("std");\n'
                "pub fn main(init: std.process.Init) !void {\n"
                "    var buffer: [256]u8 = undefined;\n"
                "    var writer: std.Io.File.Writer = .init(.stdout(), init.io, &buffer);\n"
                '    try writer.interface.writeAll("{\\"status\\":204,\\"headers\\":{},'
                '\\"body\\":\\"\\"}");\n'
                "    try writer.interface.flush();\n"
                "}\n"
            ),
        },
    )

    result = build_function(directory, echo=quiet)

    assert result.ok, result.message
    assert invoke(result.output, make_request()).status == 204
    assert sorted(path.name for path in directory.iterdir()) == ["main.zig"]
    assert sorted(path.name for path in directory.parent.iterdir()) == ["fine", "fine.wasm"]


def test_a_python_function_is_bundled_into_the_same_pyz_for_the_same_sources(
    tmp_path: Path,
) -> None:
    directory = make_function(tmp_path, "py", {"handler.py": "import lib\n"})
    (directory / "lib").mkdir()
    (directory / "lib" / "__init__.py").write_text("X = 1\n")

    first = build_function(directory, echo=quiet)
    data = first.output.read_bytes()
    second = build_function(directory, force=True, echo=quiet)

    assert (first.ok, first.output.name) == (True, "py.pyz")
    assert second.output.read_bytes() == data  # fixed dates and order
    with zipfile.ZipFile(first.output) as bundle:
        assert bundle.namelist() == ["handler.py", "lib/__init__.py"]


def test_python_the_host_cannot_parse_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    directory = make_function(tmp_path, "py", {"handler.py": "def handle(request:\n"})

    result = build_function(directory, echo=quiet)

    assert result.ok
    assert "handler.py:1: Python 3." in result.message
    assert "it is checked again when the function loads" in result.message


def test_assemblyscript_errors_name_the_file_and_line(tmp_path: Path) -> None:
    directory = make_function(tmp_path, "ts", {"main.ts": "let x: i32 = 1;\nx = undefinedName;\n"})

    result = build_function(directory, echo=quiet)

    assert not result.ok
    assert "undefinedName" in result.message
    assert "main.ts(2," in result.message


def test_assemblyscript_without_node_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = make_function(tmp_path, "ts", {"main.ts": ""})
    monkeypatch.setattr(assemblyscript.shutil, "which", lambda name: None)

    result = build_function(directory, echo=quiet)

    assert not result.ok
    assert "apt-get install nodejs npm" in result.message


def test_assemblyscript_from_the_project_is_preferred_to_pyjinns_own(tmp_path: Path) -> None:
    project = tmp_path / "project"
    asc = project / "node_modules" / "assemblyscript" / "bin" / "asc.js"
    shim = project / "node_modules" / "@assemblyscript" / "wasi-shim" / "asconfig.json"
    for path in (asc, shim):
        path.parent.mkdir(parents=True)
        path.write_text("")
    function = project / "functions" / "ts"
    function.mkdir(parents=True)

    toolchain = assemblyscript.find_or_install(function)

    assert (toolchain.asc, toolchain.shim_config, toolchain.installed_by_pyjinn) == (
        asc,
        shim,
        False,
    )
