"""A screen of a statement's text for the file engines, read before the engine sees it: what
an authorizer cannot see.

SQLite's authorizer is not asked about EXPLAIN (whose listing shows addresses inside the
process) nor about the functions in a column's DEFAULT, and the libsql binding offers no
authorizer at all. The screen reads the text as SQLite's tokenizer does (comments, strings, and
identifiers bare, ``"quoted"``, ```quoted``` or ``[quoted]``, in any letter case) and refuses:

- ``EXPLAIN``, except ``EXPLAIN QUERY PLAN``;
- a call of a function that the engine offers and the allow-list does not (its name followed by
  ``(``: SQL has no other way to call one by name);
- a virtual table module that the engine offers and the allow-list does not, wherever its name
  appears (SQLite also takes a ``'string'`` where a table name goes);
- with ``pragmas`` given, a ``pragma_NAME`` table-valued function for a PRAGMA not in it.

Which functions and modules the engine offers is read from the engine itself
(``PRAGMA function_list`` and ``module_list``), so whatever a build adds is refused until it is
on the allow-list. A name of the engine's that is used for something else (a table called like a
refused function, followed by ``(``) is refused too: the price of reading text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyjinn.backends.sql import NotPermitted
from pyjinn.backends.sql.allowed import FUNCTIONS, MODULES, function_refusal, module_refusal

TOKEN = re.compile(
    r"""(?P<space>\s+|--[^\n]*(?:\n|$)|/\*.*?(?:\*/|$))"""
    r"""|(?P<string>'(?:[^']|'')*'?)"""
    r"""|(?P<quoted>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|(?P<semicolon>;)|.""",
    re.DOTALL,
)
EXPLAIN_REFUSAL = (
    "EXPLAIN is not available: its listing shows the engine's internals, memory addresses "
    "included (EXPLAIN QUERY PLAN is available)"
)


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "quoted", "string", "semicolon" or "other"
    text: str
    name: str  # a word or a quoted identifier or string, unquoted, in lower case


def tokens(sql: str) -> Iterator[Token]:
    """The statement's tokens, without spaces and comments."""
    for match in TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind == "space":
            continue
        text = match.group(0)
        yield Token(kind, text, _unquote(kind, text).lower())


@functools.lru_cache(maxsize=1024)
def names(sql: str) -> frozenset[str]:
    """Every name in a statement's text: words, quoted identifiers and strings (SQLite takes a
    string where a table name goes), unquoted, in lower case."""
    return frozenset(token.name for token in tokens(sql) if token.kind in _NAMED)


_NAMED = ("word", "quoted", "string")


def _unquote(kind: str, text: str) -> str:
    if kind == "word":
        return text
    if kind not in ("quoted", "string"):
        return ""
    opening = text[0]
    closing = "]" if opening == "[" else opening
    inner = text[1:-1] if len(text) > 1 and text.endswith(closing) else text[1:]
    return inner if opening == "[" else inner.replace(closing * 2, closing)


def engine_catalog(connection: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The names of the functions and of the virtual table modules an engine's connection
    offers (a DB-API connection to SQLite or libSQL)."""
    functions = frozenset(str(row[0]).lower() for row in _rows(connection, "function_list"))
    modules = frozenset(str(row[0]).lower() for row in _rows(connection, "module_list"))
    return functions, modules


def _rows(connection: Any, pragma: str) -> list[Any]:
    return list(connection.execute(f"PRAGMA {pragma}").fetchall())


class Screen:
    """The screen for one engine, given the names it offers (see ``engine_catalog``)."""

    def __init__(
        self,
        functions: frozenset[str],
        modules: frozenset[str],
        *,
        pragmas: frozenset[str] | None = None,
    ) -> None:
        # A name that is also an allowed module (fts5 is both) is the module's.
        self.refused_functions = functions - FUNCTIONS - MODULES
        self.refused_modules = modules - MODULES
        self.pragmas = pragmas
        # Guests send the same statements again and again: screen each text once.
        self.check = functools.lru_cache(maxsize=1024)(self._check)

    def _check(self, sql: str) -> None:
        seen = list(tokens(sql))
        leading = [(token.kind, token.name) for token in seen[:2]]
        if leading[:1] == [("word", "explain")] and leading[1:] != [("word", "query")]:
            raise NotPermitted(EXPLAIN_REFUSAL)
        for index, token in enumerate(seen):
            if token.kind not in _NAMED:
                continue
            name = token.name
            if name in self.refused_modules:
                raise NotPermitted(module_refusal(name))
            pragma = name.removeprefix("pragma_")
            if self.pragmas is not None and pragma != name and pragma not in self.pragmas:
                raise NotPermitted(f"PRAGMA {pragma} is not available")
            if token.kind == "string" or name not in self.refused_functions:
                continue
            following = seen[index + 1] if index + 1 < len(seen) else None
            if following is not None and following.text == "(":
                raise NotPermitted(function_refusal(name))
