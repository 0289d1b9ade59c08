"""Per-tenant token budgets over a sliding minute (a fake clock: the window is the subject)."""

from __future__ import annotations

import pytest

from pyjinn.ai.budget import BudgetSpent, TokenBudgets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tenant_under_its_limit_may_call() -> None:
    budgets = TokenBudgets(Clock())
    budgets.spend("acme", 99)
    budgets.check("acme", 100)


def test_a_tenant_at_its_limit_is_refused_with_the_time_to_wait() -> None:
    clock = Clock()
    budgets = TokenBudgets(clock)
    budgets.spend("acme", 60)
    clock.now += 20
    budgets.spend("acme", 60)
    with pytest.raises(BudgetSpent, match="used 120 of its 100 tokens per minute") as refused:
        budgets.check("acme", 100)
    assert refused.value.retry_after == pytest.approx(40)  # when the first 60 leave the window


def test_tokens_leave_the_window_after_a_minute() -> None:
    clock = Clock()
    budgets = TokenBudgets(clock)
    budgets.spend("acme", 500)
    clock.now += 60.001
    budgets.check("acme", 100)
    assert budgets.used("acme") == 0


def test_tenants_have_budgets_of_their_own() -> None:
    budgets = TokenBudgets(Clock())
    budgets.spend("acme", 500)
    budgets.check("globex", 100)
    with pytest.raises(BudgetSpent):
        budgets.check("acme", 100)
