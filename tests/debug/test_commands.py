"""``pyjinn replay`` and ``pyjinn crashes``: what a developer types and reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pyjinn.cli import main
from pyjinn.debug.record import CrashRecord
from tests.debug.guests import FAILURES, guest

pytestmark = pytest.mark.anyio


@pytest.fixture
async def crashed(make_client, project, records, tmp_path) -> CrashRecord:
    project("guest.wat", guest(FAILURES["trap"][0]))
    client = make_client(":8080 {\n pyjinn /* guest.wat {\n name fn\n }\n}\n")
    assert (await client.get("/")).status_code == 502
    [record] = records()
    return record


def pyjinn(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


async def test_replay_by_id_reproduces_and_exits_0(crashed, tmp_path) -> None:
    status, output = pyjinn("replay", crashed.id[:20], "--data-dir", str(tmp_path / "data"))
    assert status == 0, output
    assert f"Replaying {crashed.id} (function fn) with the recorded module." in output
    assert "reproduced: the same failure, a trap at fail+" in output


async def test_replay_json_prints_a_machine_readable_verdict(crashed, tmp_path) -> None:
    status, output = pyjinn("replay", str(crashed.path), "--json")
    assert status == 0
    verdict = json.loads(output)
    assert verdict["verdict"] == "reproduced"
    assert verdict["recorded"]["kind"] == verdict["replayed"]["kind"] == "trap"


async def test_replay_of_a_fixed_module_exits_0_and_an_unfixed_one_1(
    crashed, tmp_path, project
) -> None:
    fixed = project("fixed.wat", guest("(call $answer)"))
    status, output = pyjinn("replay", str(crashed.path), "--module", str(fixed))
    assert status == 0, output
    assert "fixed: the rebuilt module answers 200 without failing" in output
    still = project("still.wat", guest("(call $answer) (nop) (call $fail)"))
    status, output = pyjinn("replay", str(crashed.path), "--module", str(still), "--json")
    assert status == 1
    assert json.loads(output)["verdict"] == "still-failing"


def test_replay_of_an_unknown_record_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "crashes").mkdir(parents=True)
    status, output = pyjinn("replay", "nope", "--data-dir", str(tmp_path / "data"))
    assert status == 2
    assert "no crash record 'nope'" in output


async def test_replay_trace_prints_each_host_call_with_its_recorded_result(
    make_client, project, records
) -> None:
    imports = '(import "pyjinn" "kv_get" (func $kv_get (param i32 i32) (result i64)))'
    body = "(drop (call $kv_get (i32.const 512) (i32.const 3))) (call $fail)"
    project("guest.wat", guest(body, imports, {512: b"k/1"}))
    client = make_client(":8080 {\n pyjinn /* guest.wat {\n permissions {\n kv_read k\n }\n }\n}\n")
    assert (await client.get("/")).status_code == 502
    [record] = records()
    status, output = pyjinn("replay", str(record.path), "--trace")
    assert status == 0, output
    assert "host call #1: kv_get('k/1') -> UNAVAILABLE" in output


async def test_crashes_list_show_and_export(crashed, tmp_path) -> None:
    data_dir = str(tmp_path / "data")
    status, output = pyjinn("crashes", "list", "--data-dir", data_dir)
    assert status == 0
    assert crashed.id in output and "trap 502" in output and "fail+" in output
    status, output = pyjinn("crashes", "list", "--data-dir", data_dir, "--json")
    [row] = json.loads(output)
    assert (row["id"], row["function"], row["outcome"]) == (crashed.id, "fn", "trap")
    status, output = pyjinn("crashes", "show", crashed.id, "--data-dir", data_dir)
    assert status == 0
    assert "outcome    trap -> 502: wasm trap: wasm `unreachable` instruction executed" in output
    assert "Backtrace (youngest first):" in output and "  0: fail+" in output
    core, archive = tmp_path / "core.wasm", tmp_path / "elsewhere" / "fn.record"
    archive.parent.mkdir()
    status, output = pyjinn(
        "crashes", "export", crashed.id, "--data-dir", data_dir,
        "--coredump", str(core), "--archive", str(archive),
    )  # fmt: skip
    assert status == 0, output
    assert core.read_bytes().startswith(b"\0asm")
    assert oct(archive.stat().st_mode)[-3:] == "600"
    # The archive carries its module: it replays with no crash directory around it.
    status, output = pyjinn("replay", str(archive))
    assert status == 0, output


@pytest.mark.slow
async def test_replay_under_gdb_stops_at_the_trap_in_the_guest_source(
    make_client, project, records, tmp_path
) -> None:
    """The replay's child process, as ``--gdb`` starts it (with --debug-info), run by gdb in
    batch mode: gdb stops at the trap, in the guest's C source."""
    import shutil
    import subprocess
    import sys

    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("gdb is not installed")
    source = tmp_path / "crash.c"
    source.write_text(
        "void check(int value) { if (value == 0) __builtin_trap(); }\n"
        "int main(void) { volatile int zero = 0; check(zero); return 0; }\n"
    )
    module = tmp_path / "crash.wasm"
    subprocess.run(
        [sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-g", "-O1",
         "-o", str(module), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    client = make_client(":8080 {\n pyjinn /* crash.wasm\n}\n")
    assert (await client.get("/")).status_code == 502
    [record] = records()
    result = subprocess.run(
        [gdb, "-batch", "-ex", "run", "-ex", "bt", "--args", sys.executable, "-m", "pyjinn",
         "replay", str(record.path), "--debug-info"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "received signal SIGILL" in result.stdout, result.stdout[-3000:]
    assert "in main () at " in result.stdout and "crash.c:1" in result.stdout


def test_replay_gdb_says_when_the_debugger_is_missing(tmp_path: Path, monkeypatch) -> None:
    from pyjinn.debug import commands

    monkeypatch.setattr(commands.shutil, "which", lambda name: None)
    status, output = pyjinn("replay", "some-record", "--gdb")
    assert status == 2
    assert "--gdb needs gdb, which is not installed" in output
