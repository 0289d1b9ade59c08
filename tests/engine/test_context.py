"""The host-side state of one invocation: its bounded record of host calls, its deadline."""

from __future__ import annotations

import pytest

from pyjinn.capabilities.base import HostCall
from pyjinn.engine import context
from pyjinn.engine.context import InvocationContext


def test_record_keeps_calls_up_to_its_byte_budget_and_counts_the_rest() -> None:
    invocation = InvocationContext(10**9)
    size = context.MAX_RECORDED_BYTES // 4
    for _ in range(6):
        invocation.keep(HostCall("websocket", "ws_read", (-1,), b""), size)
    assert len(invocation.calls) == 4
    assert invocation.calls_dropped == 2


def test_record_keeps_at_most_its_number_of_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "MAX_RECORDED_CALLS", 3)
    invocation = InvocationContext(10**9)
    for _ in range(5):
        invocation.keep(HostCall("core", "log", (1, b"x")), 1)
    assert (len(invocation.calls), invocation.calls_dropped) == (3, 2)


def test_a_first_call_larger_than_the_budget_is_still_kept() -> None:
    invocation = InvocationContext(10**9)
    invocation.keep(HostCall("db", "db_query", ("SELECT 1", b"")), context.MAX_RECORDED_BYTES * 2)
    assert len(invocation.calls) == 1


def test_only_an_invocation_holding_a_connection_moves_its_deadline() -> None:
    plain = InvocationContext(10**9)
    with pytest.raises(RuntimeError, match="holding a connection"):
        plain.move_deadline(plain.deadline_ns + 1)
    holding = InvocationContext(10**9, connection=object())
    assert holding.deadline_cell is not None
    holding.move_deadline(holding.created_ns + 5 * 10**9)
    assert holding.deadline_cell.value == holding.deadline_ns == holding.created_ns + 5 * 10**9
    assert holding.remaining() > 4
