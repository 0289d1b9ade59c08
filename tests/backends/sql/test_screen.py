"""The screen of statement text: names read as SQLite's tokenizer reads them, in every spelling,
and nothing else refused."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyjinn.backends.sql import NotPermitted
from pyjinn.backends.sql.screen import Screen, names, tokens

SCREEN = Screen(
    frozenset({"abs", "readfile", "fts5", "load_extension"}),
    frozenset({"fts5", "fsdir", "json_each"}),
    pragmas=frozenset({"table_info"}),
)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT readfile('/etc/passwd')",
        "select READFILE ('x')",
        'SELECT "readfile"(1)',
        'SELECT "ReadFile" /* a comment */ (1)',
        "SELECT `readfile`\n\t(1)",
        "SELECT [readfile](1)",
        "SELECT abs(1), -- comment\n readfile(2)",
        "SELECT * FROM fsdir('/')",
        "SELECT * FROM fsdir WHERE path = '/'",
        "SELECT * FROM 'fsdir'",
        'SELECT * FROM main."FSDIR"',
        "CREATE VIRTUAL TABLE x USING fsdir",
        "SELECT * FROM pragma_database_list",
        "SELECT * FROM [pragma_index_list]('t')",
        "EXPLAIN SELECT 1",
        "  /* x */ explain delete from t",
        "CREATE TABLE t (a DEFAULT (load_extension('x')))",
    ],
)
def test_refused_names_are_found_in_every_spelling(sql: str) -> None:
    with pytest.raises(NotPermitted):
        SCREEN.check(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT abs(-1)",
        "SELECT readfile FROM files",  # a column: not a call
        "SELECT 'readfile(1)' AS text",  # inside a string
        "SELECT 1 /* readfile(1) */",
        "SELECT 1 -- readfile(1)",
        'SELECT "readfile" FROM t',
        "CREATE VIRTUAL TABLE docs USING fts5(body)",  # fts5 is an allowed module
        "SELECT * FROM json_each('[1]')",
        "SELECT * FROM pragma_table_info('t')",
        "EXPLAIN QUERY PLAN SELECT 1",
        "SELECT 'fsdi' || 'r'",
        "",
    ],
)
def test_everything_else_passes(sql: str) -> None:
    SCREEN.check(sql)


def test_tokens_unquote_identifiers_and_strings() -> None:
    found = [
        (token.kind, token.name) for token in tokens("SELECT \"a\"\"b\", [c d], `e``f`, 'g''h'")
    ]
    assert found == [
        ("word", "select"), ("quoted", 'a"b'), ("other", ""), ("quoted", "c d"), ("other", ""),
        ("quoted", "e`f"), ("other", ""), ("string", "g'h"),
    ]  # fmt: skip
    assert names("INSERT INTO 'F_Data' VALUES (1)") == {"insert", "into", "f_data", "values"}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("readfile()'\"`[] ;-/*\nxEXPLAIN"), max_size=60))
def test_any_text_is_screened_without_an_unexpected_error(sql: str) -> None:
    with contextlib.suppress(NotPermitted):
        SCREEN.check(sql)
