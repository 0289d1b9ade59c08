"""Guest log lines (stderr, and the ``log`` host call) as log records, within limits.

Each record is tagged with the function, the tenant and the trace id. Three limits keep a noisy
guest from flooding the host: a line is cut at ``MAX_LINE`` bytes, one invocation's stderr
gives at most ``MAX_LINES_PER_INVOCATION`` records, and each function has a token bucket of
``RATE`` lines per second (bursts of ``BURST``) in each worker process. What a limit drops is
counted (``pyjinn_guest_log_lines_dropped_total``) and summarised in one warning when the
function may log again, so the log says that lines are missing and how many.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable

from pyjinn.observability.metrics import REGISTRY

guest_log = logging.getLogger("pyjinn.guest")
log = logging.getLogger("pyjinn.runtime")

MAX_LINE = 4096
MAX_LINES_PER_INVOCATION = 100
RATE = 200.0  # lines per second, per function and worker process
BURST = 2000
_ROOM_FOR_SUMMARY = 48


class LineBudget:
    """A token bucket of log lines for one function in this process; thread-safe."""

    __slots__ = ("_lock", "burst", "dropped", "function", "rate", "tokens", "updated")

    def __init__(self, function: str, rate: float = RATE, burst: int = BURST) -> None:
        self.function = function
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.dropped = 0  # not yet reported
        self._lock = threading.Lock()

    def take(self, wanted: int, *, over_cap: int = 0) -> tuple[int, int]:
        """Ask for ``wanted`` lines (``over_cap`` more were cut by the per-invocation cap):
        (how many may be logged, how many dropped lines to report now)."""
        with self._lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            granted = min(wanted, int(self.tokens))
            self.tokens -= granted
            lost = wanted - granted + over_cap
            if lost:
                REGISTRY.function(self.function).dropped_log_lines += lost
            self.dropped += lost
            report = 0
            # The summary rides along with a granted line (or a spare token): at most one per
            # episode of dropping, so it cannot become a flood of its own.
            if self.dropped and (granted or self.tokens >= 1):
                report, self.dropped = self.dropped, 0
            return granted, report


_budgets: dict[str, LineBudget] = {}
_budgets_lock = threading.Lock()


def budget(function: str) -> LineBudget:
    found = _budgets.get(function)
    if found is None:
        with _budgets_lock:
            found = _budgets.setdefault(function, LineBudget(function))
    return found


def split_lines(stderr: bytes, limit: int = MAX_LINES_PER_INVOCATION) -> tuple[list[str], int]:
    """The first ``limit`` lines of ``stderr`` (each cut at ``MAX_LINE`` bytes), and how many
    lines follow them; a multi-megabyte stderr is not split or decoded past that."""
    lines: list[str] = []
    position, size = 0, len(stderr)
    while position < size and len(lines) < limit:
        end = stderr.find(b"\n", position)
        if end < 0:
            end = size
        line = stderr[position : min(end, position + MAX_LINE)]
        lines.append(line.rstrip(b"\r").decode("utf-8", "replace"))
        position = end + 1
    rest = 0
    if position < size:
        rest = stderr.count(b"\n", position) + (0 if stderr.endswith(b"\n") else 1)
    return lines, rest


def emit_stderr(function: str, trace_id: str, tenant: str, stderr: bytes, truncated: bool) -> None:
    """Log what a guest wrote to stderr, within the limits."""
    lines, rest = split_lines(stderr)
    granted, report = budget(function).take(len(lines), over_cap=rest)
    context = {"function": function, "tenant": tenant, "trace_id": trace_id, "source": "stderr"}
    _report_dropped(function, report, context)
    for line in lines[:granted]:
        guest_log.info(line, extra=context)
    if truncated and granted:
        guest_log.warning(
            "Guest stderr went past its stderr_limit; the rest was discarded.", extra=context
        )


def emit_log_call(function: str, trace_id: str, tenant: str, level: int, message: str) -> None:
    """Log one ``log`` host call, within the function's rate."""
    granted, report = budget(function).take(1)
    context = {"function": function, "tenant": tenant, "trace_id": trace_id, "source": "log"}
    _report_dropped(function, report, context)
    if granted:
        guest_log.log(level, message, extra=context)


def _report_dropped(function: str, count: int, context: dict[str, str]) -> None:
    if count:
        guest_log.warning(
            "Function %s logged too much: %d guest log line(s) were not logged (at most %d "
            "per invocation, %g per second in bursts of %d).",
            function,
            count,
            MAX_LINES_PER_INVOCATION,
            RATE,
            BURST,
            extra={**context, "dropped_lines": count},
        )


def reset() -> None:
    """Forget every budget (tests)."""
    with _budgets_lock:
        _budgets.clear()


def debug_lines(log_calls: Iterable[str], stderr: bytes, budget_bytes: int) -> list[str]:
    """An invocation's log lines for the debug header: ``log`` calls, then stderr, as many as
    fit in ``budget_bytes`` of JSON, and a last line saying how many were left out."""
    stderr_lines, rest = split_lines(stderr, limit=10_000)
    every = [*log_calls, *stderr_lines]
    chosen: list[str] = []
    used = 2  # the brackets
    for index, line in enumerate(every):
        cost = len(json.dumps(line)) + 1
        if used + cost > budget_bytes - _ROOM_FOR_SUMMARY:
            chosen.append(f"... {len(every) - index + rest} more line(s) not shown")
            return chosen
        chosen.append(line)
        used += cost
    if rest:
        chosen.append(f"... {rest} more line(s) not shown")
    return chosen
