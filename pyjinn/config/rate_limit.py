"""``rate_limit RPS [BURST]`` in the global options (every function's default) and in a function
block (its own, or ``off``); how it is enforced is ``pyjinn.rate_limits``."""

from __future__ import annotations

import re

from pyjinn.config.diagnostics import Diagnostics, parse_count
from pyjinn.config.model import RateLimit
from pyjinn.config.parser import Directive

RATE_LIMIT_DIRECTIVE = "rate_limit"
USAGE = (
    "rate_limit expects requests per second and optionally a burst, like: rate_limit 10 20 "
    "(or rate_limit off in a function block)"
)
MAX_RATE = 1_000_000
MAX_BURST = 1_000_000
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")

# What a function block's ``rate_limit off`` resolves to: no limit, whatever the global one says.
OFF = "off"


def build_rate_limit(
    directive: Directive, report: Diagnostics, *, allow_off: bool
) -> RateLimit | str | None:
    """A checked ``rate_limit`` line: a RateLimit, ``OFF`` (function blocks only), or None after
    reporting what is wrong. Without a burst, the burst is the rate (at least 1), as in Gojinn."""
    report.no_block(directive)
    args = directive.args
    if args == (OFF,):
        if allow_off:
            return OFF
        report.error(
            directive,
            "rate_limit off belongs in a function block (it lifts the global rate_limit there)",
        )
        return None
    if len(args) not in (1, 2):
        report.error(directive, USAGE)
        return None
    rate_text = args[0]
    rate = float(rate_text) if _DECIMAL.fullmatch(rate_text) else None
    if rate is None or not 0 < rate <= MAX_RATE:
        report.error(
            directive,
            f"invalid rate '{rate_text}' for rate_limit: expected requests per second, a number "
            f"more than 0 and at most {MAX_RATE}, like 10 or 0.5",
        )
        return None
    if len(args) == 1:
        return RateLimit(rate, max(1, int(rate)))
    burst = parse_count(args[1])
    if burst is None or not 1 <= burst <= MAX_BURST:
        report.error(
            directive,
            f"invalid burst '{args[1]}' for rate_limit: expected a whole number of requests from "
            f"1 to {MAX_BURST}, like 20",
        )
        return None
    return RateLimit(rate, burst)


def resolve_rate_limit(
    own: RateLimit | str | None,
    default: RateLimit | None,
    *,
    block: Directive,
    own_line: Directive | None,
    has_api_keys: bool,
    report: Diagnostics,
) -> RateLimit | None:
    """A function's limit: its own line's, else the global one. In a ``gojinn`` block without
    API keys, a warning says what the limit counts (Gojinn counted each client address)."""
    if own == OFF:
        return None
    limit = own if isinstance(own, RateLimit) else default
    if isinstance(own, RateLimit) and own_line and block.name == "gojinn" and not has_api_keys:
        report.warn(
            own_line,
            "rate_limit counts per tenant, and this function has no API keys: every client "
            "shares its one bucket (Gojinn gave each client address its own); add api_key "
            "lines for one bucket per tenant",
        )
    return limit
