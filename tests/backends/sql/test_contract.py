"""The SqlDatabase contract, run against every backend.

Adding a backend: add one entry to ``BACKENDS`` — a function that receives the pytest request
(to ask for the fixtures it needs) and returns the database and its placeholder style (each
engine keeps its own: ``?`` for SQLite and libSQL, ``$1`` for PostgreSQL); the test closes it.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyjinn.backends.sql import (
    Outcome,
    ReadOnlyViolation,
    ResultTooLarge,
    Rows,
    SqlDatabase,
    StatementError,
    StatementTimeout,
)
from pyjinn.backends.sql.libsql import LibsqlDatabase
from pyjinn.backends.sql.postgres import PostgresDatabase
from pyjinn.backends.sql.sqlite import SqliteDatabase

TIMEOUT = 5.0


@dataclass
class Backend:
    name: str
    database: SqlDatabase
    placeholder: Callable[[int], str]  # 1-based parameter number to the engine's placeholder

    def p(self, number: int) -> str:
        return self.placeholder(number)

    def query(self, tenant: str, sql: str, *params: object, writable: bool = False) -> Rows:
        return self.database.query(tenant, sql, list(params), writable=writable, timeout=TIMEOUT)

    def execute(self, tenant: str, sql: str, *params: object) -> Outcome:
        return self.database.execute(tenant, sql, list(params), timeout=TIMEOUT)


def _sqlite(request: pytest.FixtureRequest) -> Backend:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return Backend(
        "sqlite", SqliteDatabase(str(tmp_path / "sql" / "{tenant}.db")), lambda number: "?"
    )


def _libsql(request: pytest.FixtureRequest) -> Backend:
    tmp_path: Path = request.getfixturevalue("tmp_path")
    return Backend(
        "libsql", LibsqlDatabase(str(tmp_path / "libsql" / "{tenant}.db")), lambda number: "?"
    )


def _postgres(request: pytest.FixtureRequest) -> Backend:
    server = request.getfixturevalue("postgres_server")
    return Backend(
        "postgres", PostgresDatabase(server.app_dsn(), pool_size=4), lambda number: f"${number}"
    )


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite,
    "libsql": _libsql,
    "postgres": _postgres,
}
SERVERS = ("postgres",)  # backends that start a server: marked slow


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.slow) if name in SERVERS else name for name in BACKENDS
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    made = BACKENDS[request.param](request)
    yield made
    made.database.close()


@pytest.fixture
def tenant(new_tenant: Callable[[], str]) -> str:
    return new_tenant()


def make_notes(backend: Backend, tenant: str) -> None:
    backend.execute(
        tenant,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body BYTEA)"
        if backend.name == "postgres"
        else "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, body BLOB)",
    )


def insert(backend: Backend, tenant: str, note_id: int, title: str) -> Outcome:
    return backend.execute(
        tenant, f"INSERT INTO notes (id, title) VALUES ({backend.p(1)}, {backend.p(2)})",
        note_id, title,
    )  # fmt: skip


def test_a_query_returns_its_columns_and_rows(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    insert(backend, tenant, 1, "first")
    insert(backend, tenant, 2, "second")
    rows = backend.query(tenant, "SELECT id, title FROM notes ORDER BY id")
    assert rows == Rows(["id", "title"], [[1, "first"], [2, "second"]])


def test_an_empty_result_keeps_its_columns(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    rows = backend.query(tenant, "SELECT id, title FROM notes")
    assert rows == Rows(["id", "title"], [])


def test_a_statement_without_a_result_gives_no_columns(backend: Backend, tenant: str) -> None:
    rows = backend.query(tenant, "CREATE TABLE plain (a INTEGER)", writable=True)
    assert rows == Rows([], [])
    assert backend.query(tenant, "SELECT a FROM plain").columns == ["a"]


@pytest.mark.parametrize(
    "value",
    [None, 0, -7, 2**31 - 1, 1.5, -0.25, "", "text", "ünïcödé ✓ 日本", "a'b\"c;--", "\x00nul"],
    ids=repr,
)
def test_parameters_come_back_as_they_went_in(backend: Backend, tenant: str, value: object) -> None:
    if backend.name in ("postgres", "libsql") and isinstance(value, str) and "\x00" in value:
        with pytest.raises(StatementError):  # PostgreSQL text cannot hold NUL; libsql cuts it
            backend.query(tenant, f"SELECT {backend.p(1)} AS v", value)
        return
    # PostgreSQL must know a parameter's type; SQLite takes the value's.
    casts = {int: "::bigint", float: "::float8"}
    cast = casts.get(type(value), "::text") if backend.name == "postgres" else ""
    rows = backend.query(tenant, f"SELECT {backend.p(1)}{cast} AS v", value)
    assert rows.rows == [[value]]


def test_bytes_travel_as_base64_objects(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    data = bytes(range(256))
    backend.execute(
        tenant, f"INSERT INTO notes (id, title, body) VALUES (1, 'b', {backend.p(1)})", data
    )
    rows = backend.query(tenant, "SELECT body FROM notes")
    assert rows.rows == [[{"base64": base64.b64encode(data).decode()}]]


def test_sql_injection_through_parameters_stays_data(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    hostile = "x'); DROP TABLE notes; --"
    insert(backend, tenant, 1, hostile)
    rows = backend.query(tenant, f"SELECT title FROM notes WHERE title = {backend.p(1)}", hostile)
    assert rows.rows == [[hostile]]
    tricky = "' OR '1'='1"
    assert (
        backend.query(tenant, f"SELECT id FROM notes WHERE title = {backend.p(1)}", tricky).rows
        == []
    )


def test_execute_reports_rows_affected(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    for number in range(1, 4):
        insert(backend, tenant, number, f"n{number}")
    changed = backend.execute(tenant, f"UPDATE notes SET title = {backend.p(1)}", "same")
    assert changed == Outcome(3, None)
    deleted = backend.execute(tenant, f"DELETE FROM notes WHERE id = {backend.p(1)}", 2)
    assert deleted == Outcome(1, None)
    assert backend.execute(tenant, "DELETE FROM notes WHERE id = 99") == Outcome(0, None)
    assert backend.execute(tenant, "CREATE INDEX by_title ON notes (title)") == Outcome(0, None)


def test_last_insert_id_is_the_inserted_row_or_null(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    inserted = insert(backend, tenant, 41, "a")
    if backend.name == "postgres":
        assert inserted == Outcome(1, None)  # PostgreSQL has no such thing: use RETURNING
        return
    assert inserted == Outcome(1, 41)
    assert backend.execute(tenant, "UPDATE notes SET title = 'b'") == Outcome(1, None)
    backend.execute(tenant, "DELETE FROM notes")
    # The same row id again, right after: still reported.
    assert insert(backend, tenant, 41, "c") == Outcome(1, 41)


def test_returning_rows_come_back_from_a_writable_query(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    rows = backend.query(
        tenant,
        f"INSERT INTO notes (id, title) VALUES ({backend.p(1)}, 'r') RETURNING id, title",
        7,
        writable=True,
    )
    assert rows == Rows(["id", "title"], [[7, "r"]])


def test_a_read_only_query_cannot_write(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    insert(backend, tenant, 1, "kept")
    for statement in (
        "INSERT INTO notes (id, title) VALUES (2, 'sneaky')",
        "UPDATE notes SET title = 'changed'",
        "DELETE FROM notes",
        "DROP TABLE notes",
        "CREATE TABLE other (a INTEGER)",
        "INSERT INTO notes (id, title) VALUES (3, 'x') RETURNING id",
    ):
        with pytest.raises(ReadOnlyViolation):
            backend.query(tenant, statement)
    assert backend.query(tenant, "SELECT id, title FROM notes").rows == [[1, "kept"]]


def test_only_one_statement_runs_per_call(backend: Backend, tenant: str) -> None:
    make_notes(backend, tenant)
    with pytest.raises(StatementError):
        backend.execute(tenant, "INSERT INTO notes (id, title) VALUES (1, 'a'); DELETE FROM notes")
    with pytest.raises(StatementError):
        backend.query(tenant, "SELECT 1; DROP TABLE notes", writable=True)
    assert backend.query(tenant, "SELECT count(*) AS n FROM notes").rows == [[0]]


@pytest.mark.parametrize(
    "statement", ["SELEC 1", "SELECT * FROM missing_table", "INSERT INTO notes (id) VALUES (1)"]
)
def test_a_bad_statement_is_a_statement_error(
    backend: Backend, tenant: str, statement: str
) -> None:
    make_notes(backend, tenant)
    with pytest.raises(StatementError):
        backend.execute(tenant, statement)
    insert(backend, tenant, 1, "still works")


def test_a_constraint_violation_is_a_statement_error_and_changes_nothing(
    backend: Backend, tenant: str
) -> None:
    make_notes(backend, tenant)
    insert(backend, tenant, 1, "a")
    with pytest.raises(StatementError):
        insert(backend, tenant, 1, "duplicate")
    assert backend.query(tenant, "SELECT title FROM notes").rows == [["a"]]


def test_tenants_never_see_each_others_tables(
    backend: Backend, new_tenant: Callable[[], str]
) -> None:
    alice, bob = new_tenant(), new_tenant()
    make_notes(backend, alice)
    insert(backend, alice, 1, "alice's")
    with pytest.raises(StatementError):
        backend.query(bob, "SELECT title FROM notes")
    make_notes(backend, bob)  # the same name, a table of bob's own
    insert(backend, bob, 1, "bob's")
    backend.execute(bob, "DELETE FROM notes")
    assert backend.query(alice, "SELECT title FROM notes").rows == [["alice's"]]
    assert backend.query(bob, "SELECT title FROM notes").rows == []


def test_a_statement_past_its_budget_is_cancelled(backend: Backend, tenant: str) -> None:
    if backend.name == "libsql":
        pytest.skip("the libsql binding cannot interrupt a statement (documented)")
    endless = (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    )
    started = time.monotonic()
    with pytest.raises(StatementTimeout):
        backend.database.query(tenant, endless, [], writable=False, timeout=0.3)
    assert time.monotonic() - started < 3
    assert backend.query(tenant, "SELECT 1 AS one").rows == [[1]]  # the connection still works


def test_a_result_larger_than_the_limit_is_refused(backend: Backend, tenant: str) -> None:
    rows = (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 40000) "
        f"SELECT i, {backend.p(1)} || i AS filler FROM r"
    )
    with pytest.raises(ResultTooLarge):
        backend.query(tenant, rows, "x" * 500)
    assert backend.query(tenant, "SELECT 2 AS two").rows == [[2]]


def test_concurrent_threads_each_see_their_own_results(
    backend: Backend, new_tenant: Callable[[], str]
) -> None:
    tenants = [new_tenant() for _ in range(2)]
    for tenant in tenants:
        backend.execute(tenant, "CREATE TABLE counter (thread INTEGER, round INTEGER)")
    start = threading.Barrier(6)
    failures: list[str] = []

    def worker(number: int) -> None:
        tenant = tenants[number % 2]
        try:
            start.wait()
            for round_number in range(15):
                backend.execute(
                    tenant,
                    f"INSERT INTO counter VALUES ({backend.p(1)}, {backend.p(2)})",
                    number,
                    round_number,
                )
                rows = backend.query(
                    tenant,
                    f"SELECT count(*) FROM counter WHERE thread = {backend.p(1)}",
                    number,
                ).rows
                if rows != [[round_number + 1]]:
                    failures.append(f"thread {number} round {round_number}: {rows}")
        except Exception as error:
            failures.append(f"thread {number}: {error!r}")

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for index, tenant in enumerate(tenants):
        assert backend.query(tenant, "SELECT count(*) FROM counter").rows == [[45]], index
