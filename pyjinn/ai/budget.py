"""Per-tenant token budgets: ``ai_tokens_per_minute``.

A tenant's model calls are counted in a sliding window of 60 seconds (prompt and completion
tokens, as the provider reports them). A call is refused (``BUDGET``) when the tenant's tokens in
the window have reached the calling function's limit; a call is never cut short, so one call may
take a tenant past its limit, and the next waits until enough of the window has passed.

Budgets are kept per worker process: with N workers a tenant may use up to N times the limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 60.0


class BudgetSpent(Exception):
    """The tenant has used its tokens for now; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Usage:
    __slots__ = ("spent", "total")

    def __init__(self) -> None:
        self.spent: deque[tuple[float, int]] = deque()
        self.total = 0


class TokenBudgets:
    """Token use per tenant over the last minute, in this process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tenants: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def check(self, tenant: str, limit: int) -> None:
        """Raise ``BudgetSpent`` if ``tenant`` has used ``limit`` tokens in the window."""
        now = self._clock()
        with self._lock:
            usage = self._tenants.get(tenant)
            if usage is None:
                return
            self._expire(usage, now)
            if usage.total < limit:
                return
            # Wait until enough old tokens leave the window to drop below the limit.
            excess = usage.total - limit
            retry_after = WINDOW
            for spent_at, tokens in usage.spent:
                excess -= tokens
                if excess < 0:
                    retry_after = spent_at + WINDOW - now
                    break
            used = usage.total
        raise BudgetSpent(
            f"tenant {tenant!r} used {used} of its {limit} tokens per minute; retry in "
            f"{max(retry_after, 0.0):.1f} s",
            max(retry_after, 0.0),
        )

    def spend(self, tenant: str, tokens: int) -> None:
        if tokens <= 0:
            return
        now = self._clock()
        with self._lock:
            usage = self._tenants.setdefault(tenant, _Usage())
            self._expire(usage, now)
            usage.spent.append((now, tokens))
            usage.total += tokens

    def used(self, tenant: str) -> int:
        with self._lock:
            usage = self._tenants.get(tenant)
            if usage is None:
                return 0
            self._expire(usage, self._clock())
            return usage.total

    @staticmethod
    def _expire(usage: _Usage, now: float) -> None:
        spent = usage.spent
        while spent and spent[0][0] <= now - WINDOW:
            usage.total -= spent.popleft()[1]
