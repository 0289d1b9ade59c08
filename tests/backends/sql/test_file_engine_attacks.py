"""Guest SQL against the file engines (SQLite, libSQL) that would crash the process or leak a
host address: each attack gets an error, the process survives it, and no address comes back.

The attacks run in a child process (``isolated.run_statements``): before the fix they killed it
with SIGSEGV, which must fail the test, not pytest.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.backends.sql.isolated import Run, run_statements

DRIVERS = ["sqlite", "libsql"]
ADDRESS_BYTES = {"base64": base64.b64encode(b"AAAAAAAA").decode()}
REFUSED = ("NotPermitted",)


def assert_survived_without_leaking(run: Run) -> None:
    assert run.returncode == 0, f"the process died ({run.returncode}): {run.stderr[-2000:]}"
    text = json.dumps(run.outcomes)
    assert not re.search(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{16}(?![0-9A-Fa-f])", text), text
    for outcome in run.outcomes:
        if outcome[0] == "ok":
            assert not any(_is_pointer_sized_blob(value) for row in outcome[1] for value in row)


def _is_pointer_sized_blob(value: Any) -> bool:
    return isinstance(value, dict) and len(base64.b64decode(value.get("base64", ""))) == 8


def assert_refused(outcome: list[Any], name: str) -> None:
    assert outcome[0] in REFUSED, outcome
    assert f"SQL function {name}() is not available" in outcome[1]


@pytest.mark.parametrize("driver", DRIVERS)
def test_registering_a_tokenizer_at_an_address_is_refused_and_the_process_survives(
    driver: str, tmp_path: Path
) -> None:
    run = run_statements(
        driver,
        tmp_path,
        [
            ("SELECT fts3_tokenizer('x', x'4141414141414141')", [], True),
            ("CREATE VIRTUAL TABLE v USING fts3(tokenize=x)", [], True),
            ("SELECT fts3_tokenizer(?, ?)", ["y", ADDRESS_BYTES], True),  # bound: no flag helps
            ("CREATE VIRTUAL TABLE w USING fts3(tokenize=y)", [], True),
            ("SELECT 1", [], True),
        ],
    )
    assert_survived_without_leaking(run)
    assert_refused(run.outcomes[0], "fts3_tokenizer")
    assert_refused(run.outcomes[2], "fts3_tokenizer")
    for created in (run.outcomes[1], run.outcomes[3]):
        assert created[0] == "StatementError" and "unknown tokenizer" in created[1], created
    assert run.outcomes[4] == ["ok", [[1]]]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT hex(fts3_tokenizer('simple'))", []),
        ("SELECT fts3_tokenizer(?)", ["simple"]),
        ("SELECT hex(fts3_tokenizer(?)) AS p", ["porter"]),
        ("SELECT \"fts3_tokenizer\"('simple')", []),
        ("SELECT [FTS3_Tokenizer] /* spaced */ ('simple')", []),
        ("SELECT `fts3_tokenizer`\n(?)", ["simple"]),
    ],
)
def test_a_read_only_guest_gets_an_error_not_a_library_address(
    driver: str, sql: str, params: list[Any], tmp_path: Path
) -> None:
    run = run_statements(driver, tmp_path, [(sql, params, False)])
    assert_survived_without_leaking(run)
    assert_refused(run.outcomes[0], "fts3_tokenizer")


@pytest.mark.parametrize("driver", DRIVERS)
def test_re_registering_a_builtin_tokenizer_cannot_break_an_existing_table(
    driver: str, tmp_path: Path
) -> None:
    run = run_statements(
        driver,
        tmp_path,
        [
            ("CREATE VIRTUAL TABLE docs USING fts3(body)", [], True),
            ("INSERT INTO docs (body) VALUES ('hello world')", [], True),
            ("SELECT fts3_tokenizer('simple', x'4141414141414141')", [], True),
            ("SELECT fts3_tokenizer(?, ?)", ["simple", ADDRESS_BYTES], True),
            ("SELECT body FROM docs WHERE docs MATCH 'hello'", [], True),
            ("SELECT body FROM docs WHERE docs MATCH 'hello'", [], False),
        ],
    )
    assert_survived_without_leaking(run)
    assert_refused(run.outcomes[2], "fts3_tokenizer")
    assert_refused(run.outcomes[3], "fts3_tokenizer")
    assert run.outcomes[4] == run.outcomes[5] == ["ok", [["hello world"]]]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("SELECT load_extension('/tmp/nothing.so')", "load_extension"),
        ("SELECT sqlite_log(1, 'x')", "sqlite_log"),
        ("SELECT rtreenode(2, x'00')", "rtreenode"),
        ("SELECT fts5(NULL)", None),  # a module name too: refused by the authorizer or inert
    ],
)
def test_functions_off_the_allow_list_are_refused_by_name(
    driver: str, sql: str, name: str | None, tmp_path: Path
) -> None:
    run = run_statements(driver, tmp_path, [(sql, [], True)])
    assert_survived_without_leaking(run)
    if name is not None:
        assert_refused(run.outcomes[0], name)
    else:
        assert run.outcomes[0] in (["ok", [[None]]], ["NotPermitted", run.outcomes[0][1]])


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_storage_tables_of_a_full_text_table_cannot_be_written(
    driver: str, tmp_path: Path
) -> None:
    run = run_statements(
        driver,
        tmp_path,
        [
            ("CREATE VIRTUAL TABLE f USING fts5(body)", [], True),
            ("INSERT INTO f (body) VALUES ('hello')", [], True),
            ("INSERT INTO f_data VALUES (1000, x'ffffffff')", [], True),
            ("UPDATE f_data SET block = x'00' WHERE id = 1", [], True),
            ("DELETE FROM f_idx", [], True),
            ("SELECT body FROM f WHERE f MATCH 'hello'", [], True),
        ],
    )
    assert_survived_without_leaking(run)
    for outcome in run.outcomes[2:5]:
        assert outcome[0] in ("NotPermitted", "StatementError"), outcome
        assert "may not be modified" in outcome[1] or "storage" in outcome[1], outcome
    assert run.outcomes[5] == ["ok", [["hello"]]]


@pytest.mark.parametrize("driver", DRIVERS)
def test_explain_is_refused_but_its_query_plan_is_not(driver: str, tmp_path: Path) -> None:
    run = run_statements(
        driver,
        tmp_path,
        [
            ("CREATE VIRTUAL TABLE f USING fts5(body)", [], True),
            ("EXPLAIN SELECT * FROM f WHERE f MATCH 'x'", [], True),  # lists a vtab address
            ("/* x */ explain select 1", [], False),
            ("EXPLAIN QUERY PLAN SELECT * FROM f WHERE f MATCH 'x'", [], False),
        ],
    )
    assert_survived_without_leaking(run)
    for outcome in run.outcomes[1:3]:
        assert outcome[0] == "NotPermitted" and "EXPLAIN is not available" in outcome[1]
    assert run.outcomes[3][0] == "ok"


@pytest.mark.parametrize("driver", DRIVERS)
def test_ordinary_functions_keep_working(driver: str, tmp_path: Path) -> None:
    statements: list[tuple[str, list[Any], bool]] = [
        ("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT, at TEXT)", [], True),
        ("CREATE INDEX events_kind ON events (json_extract(data, '$.kind'))", [], True),
        (
            "INSERT INTO events (data, at) VALUES (?, ?)",
            ['{"kind": "a", "n": 2}', "2024-05-01"],
            True,
        ),
        (
            "INSERT INTO events (data, at) VALUES (?, ?)",
            ['{"kind": "b", "n": 3}', "2024-05-03"],
            True,
        ),
        (
            "SELECT json_extract(data, '$.kind'), data ->> '$.n', date(at, '+1 day'), "
            "upper(substr(at, 1, 4)), round(sqrt(16.0) * pi(), 2) FROM events ORDER BY id",
            [],
            False,
        ),
        (
            "SELECT count(*), sum(data ->> '$.n'), group_concat(id, ';'), "
            "json_group_array(id) FROM events",
            [],
            False,
        ),
        (
            "SELECT id, row_number() OVER (ORDER BY at DESC), lag(id) OVER (ORDER BY id) "
            "FROM events ORDER BY id",
            [],
            False,
        ),
        ("CREATE VIRTUAL TABLE docs USING fts5(body)", [], True),
        ("INSERT INTO docs (body) VALUES ('the quick fox'), ('a lazy dog')", [], True),
        (
            "SELECT highlight(docs, 0, '[', ']'), bm25(docs) < 0 FROM docs "
            "WHERE docs MATCH 'fox' ORDER BY rank",
            [],
            False,
        ),
        ("SELECT value FROM json_each('[1, 2]') WHERE value > 1", [], False),
        ("ALTER TABLE events RENAME COLUMN at TO happened", [], True),
        ("ALTER TABLE events DROP COLUMN happened", [], True),
        ("SELECT typeof(printf('%d', 3)), coalesce(NULL, 'x'), 'a' LIKE 'A'", [], False),
    ]
    run = run_statements(driver, tmp_path, statements)
    assert_survived_without_leaking(run)
    assert all(outcome[0] == "ok" for outcome in run.outcomes), run.outcomes
    assert run.outcomes[4][1] == [["a", 2, "2024-05-02", "2024", 12.57],
                                  ["b", 3, "2024-05-04", "2024", 12.57]]  # fmt: skip
    assert run.outcomes[5][1] == [[2, 5, "1;2", "[1,2]"]]
    assert run.outcomes[6][1] == [[1, 2, None], [2, 1, 1]]
    assert run.outcomes[9][1] == [["the quick [fox]", 1]]
    assert run.outcomes[10][1] == [[2]]
