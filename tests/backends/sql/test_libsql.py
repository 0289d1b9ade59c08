"""libSQL specifics: the first-keyword guard and the screen that stand in for an authorizer,
the guard of virtual tables' storage that stands in for the defensive flag, and the binding's
limits that pyjinn refuses rather than let them change data."""

from __future__ import annotations

import re
import sqlite3
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


# -- what no guest may reach: files, engine internals, the storage of virtual tables ----------


@pytest.fixture
def database(tmp_path: Path):
    made = LibsqlDatabase(str(tmp_path / "{tenant}.db"))
    yield made
    made.close()


def run(database: LibsqlDatabase, sql: str, *params: object, writable: bool = True):
    return database.query("acme", sql, list(params), writable=writable, timeout=5)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT readfile('/etc/hostname')", "SQL function readfile() is not available"),
        ("SELECT \"ReadFile\"('/etc/hostname')", "SQL function readfile() is not available"),
        ("SELECT [readfile] ('/etc/hostname')", "SQL function readfile() is not available"),
        ("SELECT writefile('{target}', 'x')", "SQL function writefile() is not available"),
        ("SELECT name FROM fsdir('/etc')", "virtual table module fsdir is not available"),
        ("SELECT name FROM fsdir WHERE path = '/etc'", "module fsdir is not available"),
        ("SELECT name FROM 'fsdir'('/etc')", "module fsdir is not available"),
        ("SELECT sha3_query('ATTACH ''/etc/passwd'' AS x')", "sha3_query() is not available"),
        ("SELECT count(*) FROM sqlite_dbpage", "module sqlite_dbpage is not available"),
        ("SELECT * FROM carray(1234, 3)", "virtual table module carray is not available"),
        ("SELECT sqlite3mc_config('cipher')", "sqlite3mc_config() is not available"),
        ("SELECT * FROM pragma_database_list", "PRAGMA database_list is not available"),
        ("SELECT reverse('abc')", "SQL function reverse() is not available"),
    ],
)
def test_functions_and_modules_off_the_allow_list_are_refused_by_name(
    database: LibsqlDatabase, statement: str, message: str, tmp_path: Path
) -> None:
    target = tmp_path / "written"
    with pytest.raises(NotPermitted, match=re.escape(message)):
        run(database, statement.replace("{target}", str(target)))
    assert not target.exists()


def test_names_of_refused_functions_are_plain_names_elsewhere(database: LibsqlDatabase) -> None:
    run(database, "CREATE TABLE settings (mode TEXT, reverse INTEGER)")
    run(database, "INSERT INTO settings (mode, reverse) VALUES ('readfile', 1)")
    assert run(database, "SELECT mode, reverse FROM settings").rows == [["readfile", 1]]


def test_vector_and_full_text_functions_are_available(database: LibsqlDatabase) -> None:
    run(database, "CREATE TABLE items (id INTEGER PRIMARY KEY, embedding F32_BLOB(3))")
    run(database, "CREATE INDEX items_embedding ON items (libsql_vector_idx(embedding))")
    run(database, "INSERT INTO items (id, embedding) VALUES (1, vector('[1, 0, 0]'))")
    run(database, "INSERT INTO items (id, embedding) VALUES (2, vector('[0, 1, 0]'))")
    nearest = run(
        database,
        "SELECT id FROM vector_top_k('items_embedding', vector('[0.9, 0.1, 0]'), 1)",
        writable=False,
    )
    assert nearest.rows == [[1]]
    distance = run(database, "SELECT round(vector_distance_cos(embedding, vector('[1, 0, 0]')), 3)"
                   " FROM items WHERE id = 1")  # fmt: skip
    assert distance.rows == [[0.0]]
    assert run(database, "SELECT value FROM generate_series(1, 3)").rows == [[1], [2], [3]]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO items_embedding_shadow (index_key, data) VALUES (1, x'00')",
        "DELETE FROM libsql_vector_meta_shadow",
        "DROP TABLE f_data",
        "ALTER TABLE f_content RENAME TO kept",
        "SELECT * FROM f_docsize",
        "CREATE TRIGGER tr AFTER INSERT ON items BEGIN DELETE FROM f_idx; END",
    ],
)
def test_the_storage_of_virtual_tables_and_vector_indexes_is_not_reachable(
    database: LibsqlDatabase, statement: str
) -> None:
    run(database, "CREATE TABLE items (id INTEGER PRIMARY KEY, embedding F32_BLOB(3))")
    run(database, "CREATE INDEX items_embedding ON items (libsql_vector_idx(embedding))")
    run(database, "CREATE VIRTUAL TABLE f USING fts5(body)")
    with pytest.raises(NotPermitted, match="storage of"):
        run(database, statement)


def test_a_trigger_cannot_be_aimed_at_storage_created_after_it(database: LibsqlDatabase) -> None:
    """The trigger names a table that does not exist yet; creating the virtual table whose
    storage it would write is refused, and undone."""
    run(database, "CREATE TABLE t (a)")
    run(database, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN "
                  "INSERT INTO g_data (id, block) VALUES (10, x'ffff'); END")  # fmt: skip
    with pytest.raises(NotPermitted, match="trigger tr names g_data, the storage of"):
        run(database, "CREATE VIRTUAL TABLE g USING fts5(body)")
    tables = run(database, "SELECT name FROM sqlite_schema WHERE name LIKE 'g%'").rows
    assert tables == []
    run(database, "DROP TRIGGER tr")
    run(database, "CREATE VIRTUAL TABLE g USING fts5(body)")


def test_read_only_calls_run_while_another_connection_writes(
    database: LibsqlDatabase, tmp_path: Path
) -> None:
    """The storage guard holds the write lock for writable calls only; read-only ones need no
    guard (their connection cannot write) and never wait for it."""
    run(database, "CREATE TABLE t (a)")
    writer = sqlite3.connect(tmp_path / "acme.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        assert run(database, "SELECT count(*) FROM t", writable=False).rows == [[0]]
    finally:
        writer.close()
