"""``rate_limit RPS [BURST]``: how often each tenant may start a function, server-wide.

Each (function, tenant) has a token bucket of ``BURST`` tokens refilled at ``RPS`` per second,
in the table every worker process shares (``pyjinn.buckets``). An invocation takes a token
before anything else is done for it (before the request body is read); without one it is
refused with 429 and ``Retry-After``. Every answer of a limited function, refused or not,
carries the IETF fields (draft-ietf-httpapi-ratelimit-headers-11)::

    RateLimit-Policy: "rate_limit";q=10;w=1;pyjinn-burst=20
    RateLimit: "rate_limit";r=7;t=1

``q`` per ``w`` seconds is the sustained rate, ``pyjinn-burst`` the bucket's size, ``r`` the
whole requests the bucket still holds and ``t`` the seconds until it holds one more (within
``t`` seconds no more than ``r`` requests are admitted). A refusal's ``Retry-After`` is that
same ``t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from pyjinn.buckets import BucketTable
from pyjinn.config.model import RateLimit
from pyjinn.errors import RequestRejected

Headers = list[tuple[bytes, bytes]]

POLICY_NAME = "rate_limit"
# The headers a browser script may read on a CORS answer of a limited function.
EXPOSED_HEADERS = (b"RateLimit", b"RateLimit-Policy", b"Retry-After")


@dataclass(frozen=True, slots=True)
class Admission:
    """A check's outcome: the headers the answer carries, and the refusal if there was one."""

    headers: Headers
    refusal: RequestRejected | None = None


def policy_header(limit: RateLimit) -> bytes:
    """The ``RateLimit-Policy`` value of ``limit``: its rate as whole requests per whole
    seconds (``0.5`` per second is ``q=1;w=2``) and its burst."""
    rate = Fraction(limit.rate).limit_denominator(1_000_000)
    return (
        f'"{POLICY_NAME}";q={rate.numerator};w={rate.denominator};pyjinn-burst={limit.burst}'
    ).encode()


# Seconds of float noise ignored when rounding the wait up to whole seconds.
_ROUNDING_SLACK = 1e-6


class RateLimiter:
    """One function's ``rate_limit``: a bucket per tenant in the shared ``table``."""

    __slots__ = ("_keys", "_policy", "function", "limit", "table")

    def __init__(self, function: str, limit: RateLimit, table: BucketTable) -> None:
        self.function = function
        self.limit = limit
        self.table = table
        self._policy = (b"ratelimit-policy", policy_header(limit))
        # Tenants are bounded by the configuration (API keys), so this stays small.
        self._keys: dict[str, int] = {}

    def admit(self, tenant: str) -> Admission:
        """Take a token from ``tenant``'s bucket; the answer's headers, and a 429 refusal when
        the bucket was empty."""
        key = self._keys.get(tenant)
        if key is None:
            key = self._keys[tenant] = BucketTable.key(self.function, tenant)
        decision = self.table.take(key, self.limit.rate, self.limit.burst)
        # Whole seconds, rounded up, but not past float noise: ``(now + 1000) - now`` can come
        # out a few ulps over 1000 and must still say 1000.
        seconds = max(1, math.ceil(decision.next_token - _ROUNDING_SLACK))
        headers = [
            self._policy,
            (b"ratelimit", f'"{POLICY_NAME}";r={decision.remaining};t={seconds}'.encode()),
        ]
        if decision.allowed:
            return Admission(headers)
        refusal = RequestRejected(
            429,
            "rate_limited",
            "too many requests; retry later",
            f"rate limit of tenant {tenant!r} reached ({self.limit.rate:g} per second, "
            f"burst {self.limit.burst}); the next request is admitted in {seconds} s",
            retry_after=seconds,
        )
        return Admission(headers, refusal)
