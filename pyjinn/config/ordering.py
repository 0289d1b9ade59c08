"""The order in which a block's directives are tried, as Caddy orders them.

Caddy sorts the directives of a site, ``handle`` and ``handle_path`` block by a global directive
order (``header`` first, then ``handle``, ``handle_path``, ``route``, then ``respond``...), and
directives of one name by their path matcher: the longer pattern (without its trailing ``*``)
first, equal lengths in lexical order, ``/x`` before ``/x*``, and a directive without a matcher
after those with one; otherwise file order. A ``route`` block is not sorted: its directives run
in file order.

The function directive (``pyjinn``, alias ``gojinn``) is not in Caddy's list. Caddy needs
``order gojinn ...`` to place it; pyjinn honours that option and, without it, places functions
last (as ``order pyjinn last``), so ``respond /internal/* 403`` written anywhere in a block
answers before a catch-all function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.meaning import MEANING_DIRECTIVE
from pyjinn.config.parser import Directive
from pyjinn.config.paths import PathMatcher

FUNCTION_DIRECTIVE = "pyjinn"
FUNCTION_ALIASES = ("pyjinn", "gojinn")

# Caddy's default directive order (caddyconfig/httpcaddyfile/directives.go).
CADDY_ORDER = (
    "tracing", "map", "vars", "fs", "root", "log_append", "skip_log", "log_skip", "log_name",
    "header", "copy_response_headers", "request_body", "redir", "method", "rewrite", "uri",
    "try_files", "basicauth", "basic_auth", "forward_auth", "request_header", "encode", "push",
    "intercept", "templates", "invoke", "handle", "handle_path", "route", "abort", "error",
    "copy_response", "respond", "metrics", "reverse_proxy", "php_fastcgi", "file_server",
    "acme_server",
)  # fmt: skip
# route_by_meaning (pyjinn's own) picks a function: it sorts with the functions, just before them.
DEFAULT_ORDER = (*CADDY_ORDER, MEANING_DIRECTIVE, FUNCTION_DIRECTIVE)
ORDER_USAGE = (
    "order expects a directive and first, last, before DIRECTIVE or after DIRECTIVE, like: "
    "order gojinn before respond"
)


def directive_key(name: str) -> str:
    """The name a directive is ordered under (``gojinn`` is ordered as ``pyjinn``)."""
    return FUNCTION_DIRECTIVE if name in FUNCTION_ALIASES else name


def apply_order_option(
    option: Directive, order: tuple[str, ...], report: Diagnostics
) -> tuple[str, ...]:
    """``order`` with the global ``order`` option ``option`` applied (reported if wrong)."""
    report.no_block(option)
    args = option.args
    if len(args) not in (2, 3) or args[1] not in ("first", "last", "before", "after"):
        report.error(option, ORDER_USAGE)
        return order
    if (len(args) == 3) != (args[1] in ("before", "after")):
        report.error(option, ORDER_USAGE)
        return order
    moved = directive_key(args[0])
    if moved not in order:
        report.error(
            option,
            f"order: unknown directive '{args[0]}' (pyjinn orders {', '.join(FUNCTION_ALIASES)} "
            "and Caddy's own directives)",
        )
        return order
    rest = [name for name in order if name != moved]
    if args[1] == "first":
        return (moved, *rest)
    if args[1] == "last":
        return (*rest, moved)
    anchor = directive_key(args[2])
    if anchor == moved or anchor not in rest:
        report.error(option, f"order: cannot place {args[0]} {args[1]} '{args[2]}'")
        return order
    position = rest.index(anchor) + (1 if args[1] == "after" else 0)
    return (*rest[:position], moved, *rest[position:])


class Ordered(Protocol):
    """An entry of a block: its directive's name and its path matcher (None: every request)."""

    @property
    def name(self) -> str: ...

    @property
    def matcher(self) -> PathMatcher | None: ...


T = TypeVar("T", bound=Ordered)


def in_caddy_order(entries: Sequence[T], order: Sequence[str]) -> list[T]:
    """``entries`` sorted as Caddy sorts a block (stable: ties keep file order)."""
    position = {name: index for index, name in enumerate(order)}

    def key(entry: T) -> tuple[int, int, tuple[int, str, int]]:
        matcher = entry.matcher
        return (
            position[directive_key(entry.name)],
            0 if matcher is not None else 1,
            matcher.sort_key() if matcher is not None else (0, "", 0),
        )

    return sorted(entries, key=key)
