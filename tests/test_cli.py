"""The command line: every command has help; run, validate, init and build report via exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import wasmtime
from click.testing import CliRunner

from pyjinn.cli import main
from pyjinn.signing import read_public_key_file
from tests.helpers import HELLO, wat_trapping, wat_writing


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    "command",
    [
        *([name] for name in ("up", "dev", "validate", "run", "init", "build", "keygen")),
        *([name] for name in ("sign", "verify", "deploy", "rollback", "routes", "logs")),
        [],
    ],
)
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
    ("module", "options", "kind", "status"),
    [
        (wat_trapping("(unreachable)"), [], "trap", 10),
        (wat_writing(HELLO, then="(call $proc_exit (i32.const 3))"), [], "exit", 11),
        (wat_trapping("(loop $l (br $l))"), ["--timeout", "200ms"], "timeout", 12),
        (wat_trapping("(loop $l (br $l))"), ["--fuel-limit", "1000"], "fuel_exhausted", 14),
        (wat_writing("not json"), [], "invalid_output", 16),
    ],
)
def test_run_exit_status_tells_the_kind_of_guest_failure(
    cli: CliRunner, project, module: str, options: list[str], kind: str, status: int
) -> None:
    result = cli.invoke(main, ["run", str(project("bad.wat", module)), *options])
    assert result.exit_code == status
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


def test_keygen_writes_a_private_key_and_a_public_key_and_never_overwrites(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = cli.invoke(main, ["keygen", str(tmp_path / "release")])
    assert result.exit_code == 0, result.output
    public_hex = (tmp_path / "release.pub").read_text().strip()
    key_id = read_public_key_file(tmp_path / "release.pub").key_id
    assert f"public key: {public_hex}" in result.stdout
    assert f"key id:     {key_id}" in result.stdout
    seed = (tmp_path / "release.key").read_text().strip()
    assert seed not in result.output
    assert stat.S_IMODE((tmp_path / "release.key").stat().st_mode) == 0o600

    again = cli.invoke(main, ["keygen", str(tmp_path / "release")])
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert (tmp_path / "release.key").read_text().strip() == seed


def test_sign_then_verify_round_trip_with_exit_codes(cli: CliRunner, tmp_path: Path) -> None:
    module = tmp_path / "hello.wasm"
    module.write_bytes(bytes(wasmtime.wat2wasm(wat_writing(HELLO))))
    cli.invoke(main, ["keygen", str(tmp_path / "release")])
    cli.invoke(main, ["keygen", str(tmp_path / "other")])
    key_id = read_public_key_file(tmp_path / "release.pub").key_id
    release_pub, other_pub = str(tmp_path / "release.pub"), str(tmp_path / "other.pub")

    unsigned = cli.invoke(main, ["verify", str(module), "--trusted-key", release_pub])
    assert unsigned.exit_code == 1
    assert "not trusted: unsigned" in unsigned.stderr

    signed = cli.invoke(main, ["sign", str(module), "--key", str(tmp_path / "release.key")])
    assert signed.exit_code == 0, signed.output
    assert f"Signed {module} with key id {key_id}." in signed.stdout
    resigned = cli.invoke(main, ["sign", str(module), "--key", str(tmp_path / "release.key")])
    assert "replacing its earlier signature" in resigned.stdout

    public_hex = (tmp_path / "release.pub").read_text().strip()
    for trusted in (release_pub, public_hex):
        verified = cli.invoke(
            main, ["verify", str(module), "--trusted-key", other_pub, "--trusted-key", trusted]
        )
        assert verified.exit_code == 0, verified.output
        assert verified.stdout == f"{module}: signed by trusted key id {key_id}\n"
    untrusted = cli.invoke(main, ["verify", str(module), "--trusted-key", other_pub])
    assert untrusted.exit_code == 1
    assert f"signed by untrusted key id {key_id}" in untrusted.stderr
    # The signed module still runs.
    assert cli.invoke(main, ["run", str(module)]).exit_code == 0


def test_sign_writes_to_another_file_when_asked(cli: CliRunner, tmp_path: Path) -> None:
    module = tmp_path / "hello.wasm"
    original = bytes(wasmtime.wat2wasm(wat_writing(HELLO)))
    module.write_bytes(original)
    cli.invoke(main, ["keygen", str(tmp_path / "k")])
    output = tmp_path / "signed.wasm"
    result = cli.invoke(
        main, ["sign", str(module), "--key", str(tmp_path / "k.key"), "-o", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert module.read_bytes() == original
    verified = cli.invoke(main, ["verify", str(output), "--trusted-key", str(tmp_path / "k.pub")])
    assert verified.exit_code == 0


def test_sign_and_verify_exit_2_on_unusable_keys_and_sign_1_on_a_malformed_module(
    cli: CliRunner, tmp_path: Path
) -> None:
    module = tmp_path / "hello.wasm"
    module.write_bytes(bytes(wasmtime.wat2wasm(wat_writing(HELLO))))
    (tmp_path / "junk.key").write_text("not a key")
    bad_key = cli.invoke(main, ["sign", str(module), "--key", str(tmp_path / "junk.key")])
    assert bad_key.exit_code == 2
    assert "does not hold a private key" in bad_key.stderr
    missing_key = cli.invoke(main, ["sign", str(module), "--key", str(tmp_path / "none.key")])
    assert missing_key.exit_code == 2
    for key in ("abcd", str(tmp_path / "missing.pub"), str(tmp_path / "junk.key")):
        result = cli.invoke(main, ["verify", str(module), "--trusted-key", key])
        assert result.exit_code == 2, key
        assert "--trusted-key" in result.stderr
    assert cli.invoke(main, ["verify", str(module)]).exit_code == 2  # no key at all

    cli.invoke(main, ["keygen", str(tmp_path / "k")])
    text = tmp_path / "fn.wat"
    text.write_text("(module)")
    malformed = cli.invoke(main, ["sign", str(text), "--key", str(tmp_path / "k.key")])
    assert malformed.exit_code == 1
    assert "not a WebAssembly binary" in malformed.stderr
    assert text.read_text() == "(module)"


def test_serving_starts_without_loading_what_only_other_commands_or_features_need() -> None:
    # Each of these cost `pyjinn up` tens of milliseconds at every start: the language list
    # (the toolchains), rich (build spinners), croniter (its import runs `file` on the
    # interpreter), httpcore (outbound HTTP). They load when a command or a function uses them.
    import subprocess
    import sys

    code = (
        "import sys, pyjinn.cli, pyjinn.server.supervisor, pyjinn.server.worker, "
        "pyjinn.toolchain.project, pyjinn.toolchain.progress\n"
        "print(' '.join(m for m in ('pyjinn.scaffold', 'rich', "
        "'croniter', 'httpcore') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
