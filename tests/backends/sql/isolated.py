"""Statements run against a file backend (SQLite, libSQL) in a child process, so that a crash of
the engine fails the test that caused it instead of killing pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[3]
_CHILD = textwrap.dedent(
    """
    import json, sys
    from pyjinn.capabilities.sql import parse_params
    from pyjinn.backends.sql.libsql import LibsqlDatabase
    from pyjinn.backends.sql.sqlite import SqliteDatabase

    driver, pattern, statements = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    database = {"sqlite": SqliteDatabase, "libsql": LibsqlDatabase}[driver](pattern)
    for sql, params, writable in statements:
        try:
            values = parse_params(json.dumps(params).encode())
            rows = database.query("acme", sql, values, writable=writable, timeout=10)
            outcome = ["ok", rows.rows]
        except Exception as error:
            outcome = [type(error).__name__, str(error)]
        print(json.dumps(outcome), flush=True)
    database.close()
    """
)


@dataclass
class Run:
    returncode: int
    outcomes: list[list[Any]]  # ["ok", rows] or [exception class name, message], per statement
    stderr: str


def run_statements(
    driver: str, directory: Path, statements: list[tuple[str, list[Any], bool]]
) -> Run:
    """Run ``(sql, params, writable)`` statements in order, for tenant ``acme``, in a child
    process. Parameters are as a guest sends them (``{"base64": ...}`` for bytes)."""
    environment = {**os.environ, "PYTHONPATH": str(_ROOT)}
    process = subprocess.run(
        [sys.executable, "-c", _CHILD, driver, str(directory / "{tenant}.db"),
         json.dumps(statements)],
        capture_output=True, text=True, timeout=120, cwd=_ROOT, env=environment,
    )  # fmt: skip
    outcomes = [json.loads(line) for line in process.stdout.splitlines() if line.strip()]
    return Run(process.returncode, outcomes, process.stderr)
