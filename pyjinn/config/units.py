"""Durations and sizes as Caddyfiles write them.

Durations use Go's ``time.ParseDuration`` syntax (what Caddy and Gojinn accept) plus ``d`` for
days. Sizes follow go-humanize's ``ParseBytes`` (what Gojinn's ``memory_limit`` uses): SI and
binary suffixes, case-insensitive. Both raise ``ValueError`` whose message states the expected
form, so callers can prefix it with the directive and the offending value. Both refuse what
their Go originals refuse as out of range: durations past 2^63-1 nanoseconds (about 292 years),
sizes of 2^64 bytes (16EiB) or more.
"""

from __future__ import annotations

import re

DURATION_FORM = "expected a duration like 2s, 500ms or 1h30m"
SIZE_FORM = "expected a size like 128MiB, 512KB or 1048576"
MAX_DURATION = (2**63 - 1) / 1e9  # seconds: Go's time.Duration is int64 nanoseconds
MAX_SIZE = 2**64 - 1  # bytes: go-humanize's ParseBytes returns a uint64
_MAX_SIZE_DIGITS = 40  # more digits than any size in range needs; int() of more is slow

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # micro sign, as Go accepts
    "\u03bcs": 1e-6,  # Greek mu, as Go accepts
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d)")

_SIZE_UNITS: dict[str, int] = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtpe", start=1):
    _SIZE_UNITS[_letter] = _SIZE_UNITS[_letter + "b"] = 1000**_power
    _SIZE_UNITS[_letter + "i"] = _SIZE_UNITS[_letter + "ib"] = 1024**_power
_TOO_LARGE = f"{SIZE_FORM}, below 16EiB"
_SIZE = re.compile(r"([\d,]*\.?\d*)\s*([A-Za-z]*)")


def parse_duration(text: str) -> float:
    """Parse a Go-style duration (``300ms``, ``1.5s``, ``1h30m``, ``2d``) into seconds.

    A sign is allowed, as in Go, so callers decide whether negative values make sense. A bare
    number is rejected because its unit would be a guess; only ``0`` is accepted bare, as in Go.
    """
    sign, body = (-1.0, text[1:]) if text.startswith("-") else (1.0, text.removeprefix("+"))
    if body == "0":
        return 0.0
    total, position = 0.0, 0
    for part in _DURATION_PART.finditer(body):
        if part.start() != position:
            break
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        position = part.end()
    if not body or position != len(body):
        raise ValueError(DURATION_FORM)
    if total > MAX_DURATION:
        raise ValueError(f"{DURATION_FORM}, of at most 2562047h (about 292 years)")
    return sign * total


def parse_size(text: str) -> int:
    """Parse a go-humanize size (``128MiB``, ``512KB``, ``1.5 GiB``, ``1048576``) into bytes.

    ``K``/``KB`` are 1000 and ``Ki``/``KiB`` are 1024 (likewise M, G, T, P, E); a bare number
    is bytes; fractions are floored to whole bytes.
    """
    match = _SIZE.fullmatch(text.strip())
    digits = match.group(1).replace(",", "") if match else ""
    if not match or not any(c.isdigit() for c in digits):
        raise ValueError(SIZE_FORM)
    multiplier = _SIZE_UNITS.get(match.group(2).lower())
    if multiplier is None:
        raise ValueError(SIZE_FORM)
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0")
    fraction = fraction.rstrip("0")
    if len(whole) > _MAX_SIZE_DIGITS or len(fraction) > _MAX_SIZE_DIGITS:
        raise ValueError(_TOO_LARGE if len(whole) > _MAX_SIZE_DIGITS else SIZE_FORM)
    # Exact decimal arithmetic: float would turn 1.1MB into 1099999 bytes.
    scale: int = 10 ** len(fraction)
    size = (int(whole or "0") * scale + int(fraction or "0")) * multiplier // scale
    if size > MAX_SIZE:
        raise ValueError(_TOO_LARGE)
    return size
