"""``pyjinn run``: flags build the envelope exactly as the server would, ``--input`` envelopes
are completed (never silently ignored), and ``--config --function`` runs a configured function
with its environment, grants and storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyjinn.cli import main
from tests.helpers import KV_IMPORTS, PYJINN_IMPORTS, abi_guest


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def envelope(result) -> dict:
    assert result.exit_code == 0, result.output
    document = json.loads(json.loads(result.stdout)["body"])
    document.pop("trace_id")
    return document


def test_flags_build_the_envelope_exactly(cli: CliRunner, project, c_guest, tmp_path) -> None:
    mirror = project("mirror.wasm", c_guest("mirror"))
    result = cli.invoke(
        main,
        ["run", str(mirror), "--path", "/greet/envelope?name=Ada&x=1&x=2", "-H", "X-Tag: a",
         "-H", "x-tag:b", "--header", "Content-Type: text/plain", "--data", "héllo"],
    )  # fmt: skip
    assert envelope(result) == {
        "method": "POST",
        "uri": "/greet/envelope?name=Ada&x=1&x=2",
        "path": "/greet/envelope",
        "query": {"name": ["Ada"], "x": ["1", "2"]},
        "headers": {"X-Tag": ["a", "b"], "Content-Type": ["text/plain"]},
        "body": "héllo",
        "remote_addr": "",
    }

    (tmp_path / "body.bin").write_bytes(b"\xff\x00")
    result = cli.invoke(
        main,
        [
            "run",
            str(mirror),
            "-X",
            "put",
            "--path",
            "/%7Eu/envelope",
            "-d",
            f"@{tmp_path / 'body.bin'}",
        ],
    )
    document = envelope(result)
    assert (document["method"], document["path"], document["uri"]) == (
        "PUT",
        "/~u/envelope",
        "/%7Eu/envelope",
    )
    assert (document["body"], document["body_encoding"]) == ("/wA=", "base64")
    get = envelope(cli.invoke(main, ["run", str(mirror), "--path", "envelope"]))
    assert (get["method"], get["path"], get["body"], get["query"]) == ("GET", "/envelope", "", {})


def test_an_input_envelope_gets_the_fields_the_server_always_sends(
    cli: CliRunner, project, c_guest, tmp_path
) -> None:
    mirror = project("mirror.wasm", c_guest("mirror"))
    (tmp_path / "request.json").write_text('{"uri": "/a/envelope?q=1"}')
    document = envelope(
        cli.invoke(main, ["run", str(mirror), "--input", str(tmp_path / "request.json")])
    )
    assert document == {
        "uri": "/a/envelope?q=1",
        "method": "GET",
        "path": "/a/envelope",
        "query": {"q": ["1"]},
        "headers": {},
        "body": "",
        "remote_addr": "",
    }

    (tmp_path / "typo.json").write_text('{"url": "/a"}')
    refused = cli.invoke(main, ["run", str(mirror), "--input", str(tmp_path / "typo.json")])
    assert refused.exit_code == 2
    assert "unknown field(s) url" in refused.stderr
    both = cli.invoke(
        main, ["run", str(mirror), "--input", str(tmp_path / "request.json"), "--path", "/b"]
    )
    assert both.exit_code == 2
    assert "--input gives the whole request" in both.stderr


def test_bad_flags_are_usage_errors(cli: CliRunner, project, c_guest) -> None:
    mirror = project("mirror.wasm", c_guest("mirror"))
    header = cli.invoke(main, ["run", str(mirror), "-H", "no colon"])
    assert header.exit_code == 2
    assert "--header expects NAME:VALUE" in header.stderr
    missing = cli.invoke(main, ["run", str(mirror), "-d", "@nope.txt"])
    assert missing.exit_code == 2
    assert "cannot read nope.txt" in missing.stderr
    nothing = cli.invoke(main, ["run"])
    assert nothing.exit_code == 2
    assert "give a MODULE to run" in nothing.stderr


@pytest.mark.slow
def test_config_and_function_run_with_its_environment_and_grants_against_real_storage(
    cli: CliRunner, project, c_guest, tmp_path: Path
) -> None:
    project("environment.wasm", c_guest("environment"))
    key, value = "notes/a", "hello"
    writer = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        ["(i64.extend_i32_s (call $kv_set (i32.const 0) (i32.const 7) (i32.const 16) "
         "(i32.const 5)))"],
        {0: key, 16: value},
    )  # fmt: skip
    reader = abi_guest(PYJINN_IMPORTS + KV_IMPORTS, ["(call $kv_get (i32.const 0) (i32.const 7))"],
                       {0: key})  # fmt: skip
    project("writer.wat", writer)
    project("reader.wat", reader)
    caddyfile = project(
        "Caddyfile",
        """
        :8080 {
            handle /env {
                pyjinn environment.wasm {
                    env GREETING hi
                    args one
                }
            }
            handle /write {
                pyjinn writer.wat {
                    permissions {
                        kv_read notes
                        kv_write notes
                    }
                }
            }
            handle /read {
                pyjinn reader.wat {
                    permissions {
                        kv_read notes
                        kv_write notes
                    }
                }
            }
        }
        """,
    )
    seen = cli.invoke(main, ["run", "--config", str(caddyfile), "--function", "environment"])
    assert seen.exit_code == 0, seen.output
    assert json.loads(json.loads(seen.stdout)["body"]) == {
        "env": ["GREETING=hi"],
        "args": ["environment.wasm", "one"],
    }
    wrote = cli.invoke(main, ["run", "--config", str(caddyfile), "--function", "writer"])
    assert json.loads(wrote.stdout)["body"] == "0", wrote.output
    # A second run, a second embedded nats-server on the same store: the value is there.
    read = cli.invoke(main, ["run", "--config", str(caddyfile), "--function", "reader"])
    assert json.loads(read.stdout)["body"] == "5", read.output

    unknown = cli.invoke(main, ["run", "--config", str(caddyfile), "--function", "nope"])
    assert unknown.exit_code == 2
    assert "has no function 'nope' (it has: environment, reader, writer)" in unknown.stderr
    clash = cli.invoke(
        main, ["run", "--config", str(caddyfile), "--function", "reader", "--timeout", "1s"]
    )
    assert clash.exit_code == 2
    assert "--timeout cannot be combined with --config" in clash.stderr


@pytest.mark.slow
def test_a_debug_build_traps_with_function_names_and_source_lines(
    cli: CliRunner, tmp_path: Path
) -> None:
    import os

    from pyjinn.toolchain import build_function

    directory = tmp_path / "functions" / "crash"
    directory.mkdir(parents=True)
    (directory / "main.c").write_text(
        "static void explode(void) { __builtin_trap(); }\nint main(void) { explode(); return 0; }\n"
    )
    built = build_function(directory, echo=lambda line: None, debug=True)
    assert built.ok, built.message

    result = cli.invoke(main, ["run", str(built.output)])

    assert result.exit_code == 10
    detail = json.loads(result.stdout)["detail"]
    assert "explode" in detail and "main.c:1:" in detail, detail
    assert "partial" not in detail
    assert "WASMTIME_BACKTRACE_DETAILS" not in os.environ
