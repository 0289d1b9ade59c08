"""libSQL specifics: the first-keyword guard that stands in for an authorizer, and the
binding's limits that pyjinn refuses rather than let them change data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyjinn.backends.sql import NotPermitted, StatementError
from pyjinn.backends.sql.libsql import LibsqlDatabase, check_statement


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE '/etc/passwd' AS stolen",
        "  attach 'x' as y",
        "/* hidden */ ATTACH 'x' AS y",
        "-- a comment\nDETACH y",
        ";; ATTACH 'x' AS y",
        "VACUUM INTO '/tmp/copy.db'",
        "PRAGMA hard_heap_limit = 1",
        "PRAGMA main.journal_mode = OFF",
        "pragma user_version = 3",
        "BEGIN",
        "commit",
        "SAVEPOINT s",
        "END TRANSACTION",
    ],
)
def test_statements_the_binding_cannot_be_trusted_with_are_refused(statement: str) -> None:
    with pytest.raises(NotPermitted):
        check_statement(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1; SELECT 2",
        "INSERT INTO t VALUES (1); ATTACH 'x' AS y",
        "SELECT ';'; DELETE FROM t",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; END; DROP TABLE t",
    ],
)
def test_more_than_one_statement_is_refused(statement: str) -> None:
    with pytest.raises(StatementError, match="only one statement"):
        check_statement(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1",
        "SELECT 1;",
        "SELECT ';' AS semicolon; -- trailing comment",
        "SELECT 'attach' AS word /* ; */ ;  ",
        'SELECT "begin" FROM "attach"',
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; INSERT INTO v VALUES (1); END",
        "create temp trigger tr after insert on t begin delete from u; end;",
        "PRAGMA table_info(notes)",
        "PRAGMA main.table_info(notes)",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "",
    ],
)
def test_single_statements_pass(statement: str) -> None:
    check_statement(statement)


def test_integers_the_binding_would_round_are_refused(tmp_path: Path) -> None:
    database = LibsqlDatabase(str(tmp_path / "{tenant}.db"))
    try:
        exact = database.query("acme", "SELECT ? AS v", [2**53], writable=False, timeout=5)
        assert exact.rows == [[2**53]]
        with pytest.raises(StatementError, match="too large"):
            database.query("acme", "SELECT ? AS v", [2**53 + 1], writable=False, timeout=5)
    finally:
        database.close()
