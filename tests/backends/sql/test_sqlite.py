"""SQLite specifics: what the authorizer keeps from guests, files per tenant, idle connections."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyjinn.backends.sql import NotPermitted, ReadOnlyViolation, Rows, StatementError
from pyjinn.backends.sql.sqlite import SqliteDatabase

TIMEOUT = 5.0


@pytest.fixture
def database(tmp_path: Path):
    made = SqliteDatabase(str(tmp_path / "sql" / "{tenant}.db"))
    yield made
    made.close()


def query(database: SqliteDatabase, sql: str, *, writable: bool = True, tenant: str = "acme"):
    return database.query(tenant, sql, [], writable=writable, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE '/etc/passwd' AS stolen",
        "ATTACH DATABASE 'file:other.db?mode=rwc' AS other",
        "VACUUM INTO '/tmp/pyjinn-copy.db'",
        "PRAGMA hard_heap_limit = 1",
        "PRAGMA soft_heap_limit = 1",
        "PRAGMA journal_mode = OFF",
        "PRAGMA writable_schema = ON",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA busy_timeout = 100000",
        "PRAGMA database_list",
        "BEGIN",
        "COMMIT",
        "SAVEPOINT s",
        "SELECT * FROM temp.pyjinn_rowid",
        "DROP TABLE temp.pyjinn_rowid",
    ],
)
def test_statements_that_reach_past_the_tenants_database_are_refused(
    database: SqliteDatabase, statement: str
) -> None:
    with pytest.raises((NotPermitted, StatementError)):
        query(database, statement)
    assert not Path("/tmp/pyjinn-copy.db").exists()


def test_refusals_name_what_was_refused(database: SqliteDatabase) -> None:
    with pytest.raises(NotPermitted, match="ATTACH and DETACH are not available"):
        query(database, "ATTACH DATABASE 'x.db' AS x")
    with pytest.raises(NotPermitted, match="PRAGMA hard_heap_limit is not available"):
        query(database, "PRAGMA hard_heap_limit = 1")
    with pytest.raises(NotPermitted, match="transaction control is not available"):
        query(database, "BEGIN IMMEDIATE")


@pytest.mark.parametrize(
    "statement",
    [
        "PRAGMA table_info(notes)",
        "SELECT * FROM pragma_table_info('notes')",
        "PRAGMA index_list(notes)",
        "PRAGMA foreign_keys",
        "PRAGMA user_version = 7",
        "PRAGMA integrity_check",
    ],
)
def test_introspection_pragmas_are_allowed(database: SqliteDatabase, statement: str) -> None:
    query(database, "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    query(database, statement)


def test_foreign_keys_are_enforced(database: SqliteDatabase) -> None:
    query(database, "CREATE TABLE a (id INTEGER PRIMARY KEY)")
    query(database, "CREATE TABLE b (a_id INTEGER REFERENCES a (id))")
    with pytest.raises(StatementError, match="FOREIGN KEY"):
        query(database, "INSERT INTO b VALUES (1)")


def test_each_tenant_has_a_file_of_its_own_in_wal_mode(
    database: SqliteDatabase, tmp_path: Path
) -> None:
    query(database, "CREATE TABLE t (a INTEGER)", tenant="acme")
    query(database, "CREATE TABLE t (a INTEGER)", tenant="globex")
    files = sorted(path.name for path in (tmp_path / "sql").glob("*.db"))
    assert files == ["acme.db", "globex.db"]
    assert query(database, "PRAGMA journal_mode", tenant="acme") == Rows(
        ["journal_mode"], [["wal"]]
    )
    assert oct(os.stat(tmp_path / "sql").st_mode & 0o777) == "0o700"


def test_a_read_only_tenant_without_a_database_gets_an_empty_one(
    database: SqliteDatabase,
) -> None:
    rows = query(database, "SELECT count(*) FROM sqlite_master", writable=False, tenant="new")
    assert rows.rows == [[0]]
    with pytest.raises(ReadOnlyViolation):
        query(database, "CREATE TABLE t (a INTEGER)", writable=False, tenant="new")


def test_a_read_only_connection_cannot_be_made_writable(database: SqliteDatabase) -> None:
    query(database, "CREATE TABLE t (a INTEGER)")
    with pytest.raises((NotPermitted, StatementError)):
        query(database, "PRAGMA query_only = OFF", writable=False)
    with pytest.raises(ReadOnlyViolation):
        query(database, "INSERT INTO t VALUES (1)", writable=False)


def test_an_integer_sqlite_cannot_hold_is_a_statement_error(database: SqliteDatabase) -> None:
    with pytest.raises(StatementError):
        database.query("acme", "SELECT ?", [2**70], writable=False, timeout=TIMEOUT)


def test_connections_are_reused_and_the_idle_ones_bounded(tmp_path: Path) -> None:
    database = SqliteDatabase(str(tmp_path / "{tenant}.db"))
    opened = []
    original = database._open

    def counting_open(tenant: str, writable: bool):
        opened.append((tenant, writable))
        return original(tenant, writable)

    database._open = counting_open  # type: ignore[method-assign]
    for _ in range(20):
        query(database, "SELECT 1")
    assert opened == [("acme", True)]
    for number in range(300):
        query(database, "SELECT 1", tenant=f"t{number}")
    assert database._idle._count <= 256
    database.close()
