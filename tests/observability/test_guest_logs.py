"""Guest log lines: cut, capped per invocation, and rate-limited per function."""

from __future__ import annotations

import json
import logging

import pytest

from pyjinn.observability import guest_logs
from pyjinn.observability.guest_logs import LineBudget, split_lines
from pyjinn.observability.metrics import REGISTRY


def test_split_lines_stops_at_the_cap_and_counts_the_rest() -> None:
    stderr = b"".join(b"line %d\r\n" % number for number in range(250))
    lines, rest = split_lines(stderr, limit=100)
    assert lines[0] == "line 0" and lines[-1] == "line 99" and len(lines) == 100
    assert rest == 150
    assert split_lines(b"no newline") == (["no newline"], 0)
    assert split_lines(b"a\nb") == (["a", "b"], 0)
    long_line, _ = split_lines(b"x" * 10_000 + b"\n")
    assert long_line == ["x" * guest_logs.MAX_LINE]


def test_a_budget_refills_at_its_rate_and_reports_what_it_dropped(monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(guest_logs.time, "monotonic", lambda: clock[0])
    budget = LineBudget("fn", rate=10, burst=20)
    assert budget.take(15) == (15, 0)
    assert budget.take(15) == (5, 10)  # the summary rides along with the last lines granted
    assert budget.take(4) == (0, 0)  # nothing granted: kept for the next summary
    clock[0] += 1.0
    assert budget.take(3) == (3, 4)
    assert REGISTRY.function("fn").dropped_log_lines == 14


def test_a_flood_is_cut_to_the_budget_with_one_summary(caplog, monkeypatch) -> None:
    monkeypatch.setattr(guest_logs, "_budgets", {"noisy": LineBudget("noisy", rate=0, burst=150)})
    caplog.set_level(logging.INFO, logger="pyjinn.guest")
    stderr = b"".join(b"line %d\n" % number for number in range(1000))
    for _ in range(3):
        guest_logs.emit_stderr("noisy", "t" * 32, "default", stderr, False)
    lines = [r for r in caplog.records if r.getMessage().startswith("line ")]
    assert len(lines) == 150  # 100 from the first invocation, 50 from the second
    assert REGISTRY.function("noisy").dropped_log_lines == 3000 - 150
    summaries = [r for r in caplog.records if "were not logged" in r.getMessage()]
    assert [r.dropped_lines for r in summaries] == [900, 950]  # the third had no room
    assert all(r.function == "noisy" and r.trace_id == "t" * 32 for r in lines)


def test_dropped_lines_are_reported_once_logging_may_resume(caplog, monkeypatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(guest_logs.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(guest_logs, "_budgets", {"fn": LineBudget("fn", rate=1, burst=1)})
    caplog.set_level(logging.INFO, logger="pyjinn.guest")
    for _ in range(5):
        guest_logs.emit_log_call("fn", "", "default", logging.INFO, "hello")
    clock[0] += 2
    guest_logs.emit_log_call("fn", "", "default", logging.INFO, "again")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "hello"
    assert "4 guest log line(s) were not logged" in messages[1]
    assert messages[2] == "again"


@pytest.mark.parametrize("count", [0, 3])
def test_debug_lines_fit_the_budget(count: int) -> None:
    lines = guest_logs.debug_lines(["from log"] * count, b"a\n" * 5000, 512)
    assert lines[:count] == ["from log"] * count
    assert lines[-1].startswith("... ")
    assert len(json.dumps(lines, separators=(",", ":"))) <= 512
