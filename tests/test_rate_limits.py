"""A function's rate limit: the IETF RateLimit fields it answers with, and its 429 refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyjinn.buckets import BucketTable
from pyjinn.config.model import RateLimit
from pyjinn.rate_limits import RateLimiter, policy_header


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def table(clock: Clock) -> Iterator[BucketTable]:
    table = BucketTable(1024, clock=clock)
    yield table
    table.close()


@pytest.mark.parametrize(
    ("rate", "burst", "expected"),
    [
        (10, 20, b'"rate_limit";q=10;w=1;pyjinn-burst=20'),
        (0.5, 1, b'"rate_limit";q=1;w=2;pyjinn-burst=1'),
        (2.5, 2, b'"rate_limit";q=5;w=2;pyjinn-burst=2'),
        (0.001, 1, b'"rate_limit";q=1;w=1000;pyjinn-burst=1'),
    ],
)
def test_the_policy_states_the_rate_as_whole_requests_per_whole_seconds(
    rate: float, burst: int, expected: bytes
) -> None:
    assert policy_header(RateLimit(rate, burst)) == expected


def test_admitted_requests_carry_what_is_left_and_a_refusal_says_when_to_retry(
    table: BucketTable, clock: Clock
) -> None:
    limiter = RateLimiter("fn", RateLimit(rate=0.5, burst=2), table)
    first, second, third = (limiter.admit("acme") for _ in range(3))
    policy = (b"ratelimit-policy", b'"rate_limit";q=1;w=2;pyjinn-burst=2')
    assert first.refusal is None
    assert first.headers == [policy, (b"ratelimit", b'"rate_limit";r=1;t=2')]
    assert second.refusal is None
    assert second.headers == [policy, (b"ratelimit", b'"rate_limit";r=0;t=2')]
    refusal = third.refusal
    assert refusal is not None
    assert (refusal.status, refusal.kind, refusal.retry_after) == (429, "rate_limited", 2)
    assert refusal.client_message == "too many requests; retry later"
    assert "tenant 'acme'" in refusal.detail and "0.5 per second, burst 2" in refusal.detail
    assert third.headers == [policy, (b"ratelimit", b'"rate_limit";r=0;t=2')]
    clock.now += 1.5  # half a second to go: Retry-After is rounded up to whole seconds
    assert limiter.admit("acme").refusal.retry_after == 1  # type: ignore[union-attr]
    clock.now += 0.5
    assert limiter.admit("acme").refusal is None


def test_float_noise_in_the_clock_does_not_add_a_second_to_the_wait(
    table: BucketTable, clock: Clock
) -> None:
    # (now + 1000) - now is a few ulps over 1000 at this reading: the wait is still 1000 s.
    clock.now = 1579.5577917860571
    assert (clock.now + 1000) - clock.now > 1000
    limiter = RateLimiter("fn", RateLimit(rate=0.001, burst=3), table)
    assert limiter.admit("acme").headers[1] == (b"ratelimit", b'"rate_limit";r=2;t=1000')


def test_each_tenant_and_each_function_has_its_own_bucket(table: BucketTable) -> None:
    limit = RateLimit(rate=1, burst=1)
    assert RateLimiter("fn", limit, table).admit("acme").refusal is None
    assert RateLimiter("fn", limit, table).admit("acme").refusal is not None
    assert RateLimiter("fn", limit, table).admit("globex").refusal is None
    assert RateLimiter("other", limit, table).admit("acme").refusal is None
