"""A Gojinn crash dump replays as a degraded record: the input only, and it says so."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pyjinn.cli import main
from tests.debug.guests import FAILURES, guest


def write_dump(tmp_path: Path, body: str) -> Path:
    (tmp_path / "fn.wat").write_text(guest(body))
    dump = tmp_path / "crash_tenant_t_20260101-000000_seq1.json"
    dump.write_text(
        json.dumps(
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "error": "Wasm Error/Quota Exceeded: trap | Stderr: ",
                "input": {"method": "GET", "uri": "/", "headers": {}, "body": ""},
                "env": {"GREETING": "hi"},
                "wasm_file": "fn.wat",
            }
        )
    )
    return dump


def test_a_gojinn_dump_of_a_failure_reproduces_and_says_what_it_cannot_compare(
    tmp_path: Path,
) -> None:
    dump = write_dump(tmp_path, FAILURES["trap"][0])
    result = CliRunner().invoke(main, ["replay", str(dump), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.output)
    assert verdict["verdict"] == "reproduced"
    assert any("keeps only the input and the environment" in note for note in verdict["notes"])


def test_a_gojinn_dump_whose_module_no_longer_fails_says_no_failure(tmp_path: Path) -> None:
    dump = write_dump(tmp_path, "(call $answer)")
    result = CliRunner().invoke(main, ["replay", str(dump), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["verdict"] == "no-failure"


def test_crashes_show_reads_a_gojinn_dump(tmp_path: Path) -> None:
    dump = write_dump(tmp_path, FAILURES["trap"][0])
    result = CliRunner().invoke(main, ["crashes", "show", str(dump)])
    assert result.exit_code == 0, result.output
    assert "error      Wasm Error/Quota Exceeded: trap" in result.output
    assert "env        GREETING" in result.output
