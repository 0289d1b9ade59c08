"""SQLite specifics: what the authorizer and the connection settings keep from guests, files per
tenant, idle connections."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest

from pyjinn.backends.sql import (
    DatabaseUnavailable,
    NotPermitted,
    ReadOnlyViolation,
    Rows,
    StatementError,
    sqlite_hardening,
)
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


# -- what no guest may reach: engine internals -----------------------------------------------


def test_every_connection_is_defensive_and_keeps_tokenizer_addresses_to_itself(
    database: SqliteDatabase,
) -> None:
    """Read through the backend's own connections (the authorizer lets pyjinn's statements
    through): the settings hold on both the read-write and the read-only connection."""
    for writable in (True, False):
        query(database, "SELECT 1", writable=writable)
        state = database._idle.take(("acme", writable))
        assert state is not None
        connection = state.connection
        connection.execute("PRAGMA writable_schema = ON")
        with pytest.raises(sqlite3.OperationalError, match="may not be modified"):
            connection.execute("UPDATE temp.sqlite_master SET sql = sql WHERE 0")
        connection.execute("PRAGMA writable_schema = OFF")
        assert connection.execute("SELECT fts3_tokenizer('simple')").fetchone() == (None,)
        with pytest.raises(sqlite3.OperationalError, match="fts3tokenize disabled"):
            connection.execute("SELECT fts3_tokenizer('x', x'4141414141414141')")
        with pytest.raises(sqlite3.OperationalError, match="not authorized"):
            connection.execute("SELECT load_extension('/tmp/nothing.so')")
        database._idle.give_back(("acme", writable), state)


def test_a_connection_that_cannot_be_protected_is_refused(
    database: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulated (no real build lacks the library): when the SQLite library cannot be reached,
    no connection opens, rather than one without its protections."""

    def unreachable() -> None:
        raise sqlite_hardening._Refused("the SQLite library is not reachable")

    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12 and later set the flags through Connection.setconfig")
    monkeypatch.setattr(sqlite_hardening, "_library", unreachable)
    with pytest.raises(DatabaseUnavailable, match="cannot protect the SQLite connection"):
        query(database, "SELECT 1")


def test_a_handle_that_is_not_the_connections_is_refused(tmp_path: Path) -> None:
    """A subclass of the connection (another layout, as far as pyjinn knows) is refused on
    Python 3.11, where the handle is read from the object."""

    class Subclassed(sqlite3.Connection):
        pass

    if sys.version_info >= (3, 12):
        pytest.skip("Python 3.12 and later set the flags through Connection.setconfig")
    connection = sqlite3.connect(tmp_path / "x.db", factory=Subclassed)
    try:
        with pytest.raises(DatabaseUnavailable, match="no way to reach the connection's handle"):
            sqlite_hardening.harden(connection)
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SELECT sqlite_log(1, 'x')", "SQL function sqlite_log() is not available"),
        ("SELECT rtreedepth(x'00')", "SQL function rtreedepth() is not available"),
        ("SELECT fts5(NULL)", "SQL function fts5() is not available"),
        ("CREATE VIRTUAL TABLE s USING dbstat", "virtual table module dbstat is not available"),
        ("CREATE VIRTUAL TABLE s USING sqlite_stmt", "module sqlite_stmt is not available"),
        ("SELECT * FROM dbstat", "virtual table module dbstat is not available"),
        ("SELECT * FROM 'sqlite_stmt'", "virtual table module sqlite_stmt is not available"),
        ("CREATE TABLE d (a, b DEFAULT (sqlite_log(1, 'x')))", "sqlite_log() is not available"),
        (
            "CREATE TEMP TRIGGER t AFTER INSERT ON pyjinn_rowid BEGIN SELECT 1; END",
            "pyjinn_rowid belongs to pyjinn",
        ),
        ("SELECT * FROM pragma_database_list", "PRAGMA database_list is not available"),
    ],
)
def test_functions_and_modules_off_the_allow_list_are_refused_by_name(
    database: SqliteDatabase, statement: str, message: str
) -> None:
    with pytest.raises(NotPermitted, match=re.escape(message)):
        query(database, statement)


def test_a_view_made_before_the_allow_list_cannot_call_what_it_refuses(
    database: SqliteDatabase, tmp_path: Path
) -> None:
    """A database written before this release (or by another program) may hold a view or a
    trigger that calls a refused function: the authorizer checks them when they are used."""
    (tmp_path / "sql").mkdir(exist_ok=True)
    raw = sqlite3.connect(tmp_path / "sql" / "old.db")
    raw.execute("CREATE VIEW logged AS SELECT sqlite_log(1, 'x') AS l")
    raw.execute("CREATE TABLE t (a)")
    raw.execute("CREATE TABLE log (x)")
    raw.execute("CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES "
                "(rtreedepth(x'00')); END")  # fmt: skip
    raw.commit()
    raw.close()
    with pytest.raises(NotPermitted, match=re.escape("sqlite_log() is not available")):
        query(database, "SELECT * FROM logged", tenant="old")
    with pytest.raises(NotPermitted, match=re.escape("rtreedepth() is not available")):
        query(database, "INSERT INTO t VALUES (1)", tenant="old")
