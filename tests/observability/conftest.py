"""Metrics, budgets and tracing are per process: every test here starts from zero."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyjinn.observability import guest_logs, tracing
from pyjinn.observability.metrics import REGISTRY


@pytest.fixture(autouse=True)
def fresh_observability() -> Iterator[None]:
    REGISTRY.reset()
    guest_logs.reset()
    yield
    tracing.shutdown()
    REGISTRY.reset()
    guest_logs.reset()
