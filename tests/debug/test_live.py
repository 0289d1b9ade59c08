"""Crash records from a real ``pyjinn up`` with two workers: written by the workers, listed and
counted by the admin listener, replayed by the CLI from the data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.debug.guests import FAILURES, guest
from tests.server.test_live import start, wait_until

pytestmark = pytest.mark.slow

SITE = """
:PORT {
    handle /crash {
        pyjinn crash.wat
    }
    handle /ok {
        pyjinn ok.wat
    }
}
"""


def test_workers_write_records_the_admin_lists_and_the_cli_replays(tmp_path: Path, project) -> None:
    project("crash.wat", guest(FAILURES["exit"][0]))
    project("ok.wat", guest("(call $answer)"))
    server = start(tmp_path, SITE, workers=2)
    try:
        for path in ("/crash", "/ok", "/crash", "/crash"):
            httpx.get(f"{server.url}{path}", timeout=10)

        def counted() -> int:
            return sum(entry["count"] for entry in server.status()["crash_records"])

        wait_until(lambda: counted() == 3)
        listing = httpx.get(f"{server.admin}/crashes?limit=2", timeout=5).json()
        assert listing["total"] == 3
        assert [row["function"] for row in listing["records"]] == ["crash", "crash"]
        assert listing["records"][0]["outcome"] == "exit"
        assert httpx.post(f"{server.admin}/crashes", timeout=5).status_code == 405
    finally:
        assert server.stop() == 0
    listed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "crashes", "list", "--json"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    rows = json.loads(listed.stdout)
    assert len(rows) == 3
    replayed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "replay", rows[0]["id"], "--json"],
        cwd=tmp_path, capture_output=True,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["verdict"] == "reproduced"
