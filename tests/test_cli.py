"""The command line: every command has help; run, validate, init and build report via exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyjinn.cli import main
from tests.helpers import HELLO, wat_trapping, wat_writing


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("command", [[], ["up"], ["validate"], ["run"], ["init"], ["build"]])
def test_every_command_has_help(cli: CliRunner, command: list[str]) -> None:
    result = cli.invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_run_prints_the_response_and_exits_0(cli: CliRunner, project) -> None:
    module = project("hello.wat", wat_writing(HELLO))
    result = cli.invoke(main, ["run", str(module)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "status": 200,
        "headers": {"Content-Type": ["text/plain"]},
        "body": "hello",
    }


def test_run_feeds_the_input_file_and_environment(
    cli: CliRunner, project, c_guest, tmp_path
) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"method":"POST","path":"/x","body":"from a file"}')
    mirror = project("mirror.wasm", c_guest("mirror"))
    result = cli.invoke(main, ["run", str(mirror), "--input", str(request)])
    assert json.loads(result.stdout)["body"] == "from a file"
    environment = project("environment.wasm", c_guest("environment"))
    result = cli.invoke(main, ["run", str(environment), "--env", "A=1", "--arg", "x"])
    seen = json.loads(json.loads(result.stdout)["body"])
    assert seen == {"env": ["A=1"], "args": ["environment.wasm", "x"]}


@pytest.mark.parametrize(
    ("module", "options", "kind"),
    [
        (wat_trapping("(unreachable)"), [], "trap"),
        (wat_trapping("(loop $l (br $l))"), ["--timeout", "200ms"], "timeout"),
        (wat_trapping("(loop $l (br $l))"), ["--fuel-limit", "1000"], "fuel_exhausted"),
        (wat_writing("not json"), [], "invalid_output"),
    ],
)
def test_run_exits_1_when_the_guest_fails(
    cli: CliRunner, project, module: str, options: list[str], kind: str
) -> None:
    result = cli.invoke(main, ["run", str(project("bad.wat", module)), *options])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["error"] == kind
    assert report["blame"] == "guest"


def test_run_exits_2_when_the_module_cannot_load(cli: CliRunner, project) -> None:
    module = project("imports.wat", '(module (import "env" "f" (func)) (func (export "_start")))')
    result = cli.invoke(main, ["run", str(module)])
    assert result.exit_code == 2
    assert "imports 'env.f'" in result.stderr


def test_run_exits_2_on_a_bad_option_value(cli: CliRunner, project) -> None:
    module = project("hello.wat", wat_writing(HELLO))
    result = cli.invoke(main, ["run", str(module), "--timeout", "soon"])
    assert result.exit_code == 2
    assert "invalid value 'soon' for --timeout" in result.stderr


def test_validate_accepts_a_good_config(cli: CliRunner, project, tmp_path: Path) -> None:
    project("hello.wat", wat_writing(HELLO))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(":8080 {\n\tpyjinn hello.wat\n}\n")
    result = cli.invoke(main, ["validate", str(caddyfile)])
    assert result.exit_code == 0
    assert "valid" in result.stdout


def test_validate_lists_config_and_module_problems_with_file_and_line(
    cli: CliRunner, project, tmp_path: Path
) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(":8080 {\n\tpyjinn hello.wat {\n\t\ttimeout soon\n\t}\n}\n")
    project("hello.wat", wat_writing(HELLO))
    result = cli.invoke(main, ["validate", str(caddyfile)])
    assert result.exit_code == 1
    assert f"{caddyfile}:3: invalid duration 'soon' for timeout" in result.stderr

    project("broken.wat", '(module (func (export "_start") (unknown_instruction)))')
    caddyfile.write_text(":8080 {\n\tpyjinn broken.wat\n}\n")
    result = cli.invoke(main, ["validate", str(caddyfile)])
    assert result.exit_code == 1
    assert f"{caddyfile}:2: function 'broken'" in result.stderr
    assert "invalid WebAssembly text" in result.stderr


def test_init_then_build_makes_a_function_that_runs(cli: CliRunner, tmp_path: Path) -> None:
    assert (
        cli.invoke(main, ["init", "greeter", "--lang", "wat", "--dir", str(tmp_path)]).exit_code
        == 0
    )
    assert cli.invoke(main, ["init", "greeter", "--dir", str(tmp_path)]).exit_code != 0
    assert cli.invoke(main, ["build", str(tmp_path)]).exit_code == 0
    result = cli.invoke(main, ["run", str(tmp_path / "functions" / "greeter.wasm")])
    assert result.exit_code == 0
    assert "greeter" in json.loads(result.stdout)["body"]


def test_build_without_functions_explains_what_it_expects(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(main, ["build", str(tmp_path)])
    assert result.exit_code == 1
    assert "functions" in result.output
    assert "Traceback" not in result.output
