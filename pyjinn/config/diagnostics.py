"""Collecting config errors with their blame, and the small helpers every builder shares.

Builders report through :class:`Diagnostics` and keep going, so one run of ``pyjinn`` lists every
independent mistake in a Caddyfile instead of the first one only.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pyjinn.config.parser import Directive
from pyjinn.errors import ConfigError, Location


class Diagnostics:
    """An error list that knows how to blame a directive, including where it was imported."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        # What loads but deserves a word (kept as located messages, like errors).
        self.warnings: list[ConfigError] = []

    def warn(self, directive: Directive, message: str) -> None:
        """Note ``message`` at ``directive``'s line: it loads, but the user should know."""
        self.warnings.append(ConfigError(directive.location, message + imported_suffix(directive)))

    def error(self, directive: Directive, message: str) -> None:
        """Report ``message`` at ``directive``'s line, naming the imports that pasted it there."""
        self.errors.append(ConfigError(directive.location, message + imported_suffix(directive)))

    def error_at(self, location: Location, message: str) -> None:
        self.errors.append(ConfigError(location, message))

    def single_arg(self, directive: Directive, expected: str) -> str | None:
        """The directive's only argument, or None after reporting ``expected`` (the usage)."""
        if len(directive.args) != 1:
            self.error(directive, expected)
            return None
        self.no_block(directive)
        return directive.args[0]

    def no_block(self, directive: Directive) -> None:
        if directive.block is not None:
            self.error(directive, f"'{directive.name}' does not take a block")


def imported_suffix(directive: Directive) -> str:
    """`` (imported at FILE:LINE)`` for pasted directives, so a snippet used twice is told apart."""
    if not directive.imported_at:
        return ""
    return " (" + ", ".join(f"imported at {where}" for where in directive.imported_at) + ")"


def describe(directive: Directive) -> str:
    """Where a directive is, for messages that mention a second place: ``FILE:LINE``."""
    return f"{directive.location}{imported_suffix(directive)}"


def suggestion(name: str, known: Iterable[str], supported: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a known name is close, else the list of supported names."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (supported: {', '.join(supported)})"


MAX_COUNT = 2**63 - 1  # what a Go int (Caddy, Gojinn) or an i64 holds


def parse_count(text: str) -> int | None:
    """A plain non-negative decimal integer up to ``MAX_COUNT``, or None: no signs, spaces or
    underscores."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_COUNT)):
        return None
    count = int(text)
    return count if count <= MAX_COUNT else None


def in_file_order(errors: list[ConfigError]) -> list[ConfigError]:
    """Sort by line within each file; files keep the order their first error was found in."""
    file_rank: dict[str, int] = {}
    for error in errors:
        if error.location is not None:
            file_rank.setdefault(error.location.file, len(file_rank))

    def key(error: ConfigError) -> tuple[int, int]:
        if error.location is None:
            return (-1, 0)
        return (file_rank[error.location.file], error.location.line)

    return sorted(errors, key=key)
