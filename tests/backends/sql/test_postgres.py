"""PostgreSQL specifics: the bounded pool, schemas per tenant, sessions wiped between calls, a
server that dies and comes back, and the role guest SQL runs as: refused when it could reach
past its database, and then unable to read server files, run programs or outlive its budget."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pyjinn.backends.sql import (
    DatabaseUnavailable,
    NotPermitted,
    Rows,
    StatementError,
    StatementTimeout,
)
from pyjinn.backends.sql.postgres import APPLICATION_NAME, PostgresDatabase, schema_name
from tests.servers import PostgresServer

pytestmark = pytest.mark.slow

TIMEOUT = 5.0


@pytest.fixture
def make_database(postgres_server: PostgresServer) -> Iterator[Callable[..., PostgresDatabase]]:
    made: list[PostgresDatabase] = []

    def make(pool_size: int = 2, dsn: str | None = None) -> PostgresDatabase:
        database = PostgresDatabase(dsn or postgres_server.app_dsn(), pool_size=pool_size)
        made.append(database)
        return database

    yield make
    for database in made:
        database.close()


def server_connections(dsn: str) -> int:
    """Connections the server has from pyjinn's pools right now."""
    with psycopg.connect(dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            [APPLICATION_NAME],
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_schema_names_are_distinct_identifiers() -> None:
    assert schema_name("acme") == "tenant_acme"
    long_names = {schema_name("a" * 60 + suffix) for suffix in ("1111", "2222")}
    assert len(long_names) == 2
    assert all(len(name) <= 63 and "~" in name for name in long_names)
    assert schema_name("a" * 56) == "tenant_" + "a" * 56


def test_each_tenant_gets_a_schema_of_its_own(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str]
) -> None:
    database = make_database()
    tenant = new_tenant()
    database.execute(tenant, "CREATE TABLE notes (id INT)", [], timeout=TIMEOUT)
    rows = database.query(
        tenant,
        "SELECT table_schema FROM information_schema.tables WHERE table_name = 'notes' "
        "AND table_schema = current_schema()",
        [],
        writable=False,
        timeout=TIMEOUT,
    )
    assert rows.rows == [[f"tenant_{tenant}"]]


def test_placeholders_are_the_servers_own_and_percent_is_plain(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str]
) -> None:
    database = make_database()
    rows = database.query(
        new_tenant(), "SELECT $1::text || '%' AS v, $2::int AS n", ["50", 7],
        writable=False, timeout=TIMEOUT,
    )  # fmt: skip
    assert rows == Rows(["v", "n"], [["50%", 7]])
    with pytest.raises(StatementError):
        database.query(new_tenant(), "SELECT %s", [1], writable=False, timeout=TIMEOUT)


def test_nothing_a_call_leaves_in_the_session_reaches_the_next_tenant(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str]
) -> None:
    database = make_database(pool_size=1)  # every call on the same connection
    alice, bob = new_tenant(), new_tenant()
    database.query(alice, "CREATE TEMP TABLE secrets AS SELECT 'alice' AS s", [], writable=True,
                   timeout=TIMEOUT)  # fmt: skip
    database.query(alice, "SET search_path TO public", [], writable=True, timeout=TIMEOUT)
    database.query(alice, "SELECT pg_advisory_lock(42)", [], writable=True, timeout=TIMEOUT)
    with pytest.raises(StatementError):
        database.query(bob, "SELECT s FROM secrets", [], writable=False, timeout=TIMEOUT)
    assert database.query(bob, "SELECT current_schema() AS s", [], writable=False,
                          timeout=TIMEOUT).rows == [[f"tenant_{bob}"]]  # fmt: skip
    held = database.query(bob, "SELECT pg_try_advisory_lock(42) AS free", [], writable=False,
                          timeout=TIMEOUT)  # fmt: skip
    assert held.rows == [[True]]


def test_a_flood_never_opens_more_connections_than_the_pool(
    make_database: Callable[..., PostgresDatabase],
    postgres_server: PostgresServer,
    new_tenant: Callable[[], str],
) -> None:
    database = make_database(pool_size=3)
    tenant = new_tenant()
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server_connections(postgres_server.dsn))
            time.sleep(0.02)

    results: list[object] = []

    def call() -> None:
        try:
            results.append(
                database.query(tenant, "SELECT pg_sleep(0.2)", [], writable=False, timeout=5)
            )
        except Exception as error:
            results.append(error)

    watcher = threading.Thread(target=watch)
    watcher.start()
    callers = [threading.Thread(target=call) for _ in range(12)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    done.set()
    watcher.join()
    # On a loaded machine a caller may outwait the pool's 1 s limit: that is an UNAVAILABLE
    # answer, which is fine; more connections than the pool never are.
    succeeded = [result for result in results if isinstance(result, Rows)]
    assert len(succeeded) >= 3, results
    assert all(isinstance(r, (Rows, DatabaseUnavailable)) for r in results), results
    assert 1 <= peak <= 3
    assert database.connections() <= 3


def test_callers_past_the_pool_wait_then_get_unavailable(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str]
) -> None:
    database = make_database(pool_size=2)
    tenant = new_tenant()
    holders = [
        threading.Thread(
            target=database.query,
            args=(tenant, "SELECT pg_sleep(1.5)", []),
            kwargs={"writable": False, "timeout": 5},
        )
        for _ in range(2)
    ]
    for holder in holders:
        holder.start()
    time.sleep(0.3)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="all 2 of the pool are in use"):
        database.query(tenant, "SELECT 1", [], writable=False, timeout=0.4)
    waited = time.monotonic() - started
    assert 0.35 <= waited < 1.0
    for holder in holders:
        holder.join()
    assert database.query(tenant, "SELECT 1 AS one", [], writable=False, timeout=5).rows == [[1]]


def test_a_killed_server_is_unavailable_then_recovers(
    start_postgres: Callable[[], PostgresServer],
    make_database: Callable[..., PostgresDatabase],
    new_tenant: Callable[[], str],
) -> None:
    server = start_postgres()
    database = make_database(pool_size=2, dsn=server.app_dsn())
    tenant = new_tenant()
    database.execute(tenant, "CREATE TABLE kept (a INT)", [], timeout=TIMEOUT)
    database.execute(tenant, "INSERT INTO kept VALUES (1)", [], timeout=TIMEOUT)
    server.kill()
    for _ in range(2):  # the pooled connection is dead, then no new one can be made
        with pytest.raises(DatabaseUnavailable):
            database.query(tenant, "SELECT a FROM kept", [], writable=False, timeout=0.5)
    server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            rows = database.query(tenant, "SELECT a FROM kept", [], writable=False, timeout=1)
            break
        except DatabaseUnavailable:
            assert time.monotonic() < deadline, "the pool never reconnected"
            time.sleep(0.1)
    assert rows.rows == [[1]]


# -- what no guest may reach: server files, programs, other roles, unbounded time ------------


def test_a_superuser_role_is_refused_before_any_guest_sql_runs(
    make_database: Callable[..., PostgresDatabase],
    postgres_server: PostgresServer,
    new_tenant: Callable[[], str],
) -> None:
    database = make_database(dsn=postgres_server.dsn)
    with pytest.raises(DatabaseUnavailable, match="role 'postgres' is a superuser"):
        database.query(new_tenant(), "SELECT pg_read_file('/etc/hostname')", [], writable=False,
                       timeout=TIMEOUT)  # fmt: skip


@pytest.mark.parametrize(
    ("grant", "reason"),
    [
        ("GRANT pg_read_server_files TO {role}", "a member of pg_read_server_files"),
        ("GRANT pg_execute_server_program TO {role}", "a member of pg_execute_server_program"),
        ("GRANT postgres TO {role}", "a member of postgres, a superuser"),
        ("ALTER ROLE {role} CREATEROLE", "allowed to create roles"),
    ],
)
def test_a_role_that_can_reach_past_its_database_is_refused(
    make_database: Callable[..., PostgresDatabase],
    postgres_server: PostgresServer,
    new_tenant: Callable[[], str],
    grant: str,
    reason: str,
) -> None:
    role = f"r_{new_tenant()}"
    dsn = postgres_server.app_dsn(role)
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute(grant.format(role=role))
    database = make_database(dsn=dsn)
    with pytest.raises(DatabaseUnavailable, match=re.escape(f"role '{role}' is {reason}")):
        database.query(new_tenant(), "SELECT 1", [], writable=False, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT pg_read_binary_file('/etc/hostname')",
        "SELECT pg_ls_dir('.')",
        "SELECT pg_stat_file('postgresql.conf')",
        "SELECT lo_import('/etc/hostname')",
        "SELECT lo_export(0, '/tmp/pyjinn-exported')",
        "COPY (SELECT 1) TO '/tmp/pyjinn-copied'",
        "COPY (SELECT 1) TO PROGRAM 'touch /tmp/pyjinn-ran'",
        "COPY pg_class FROM '/etc/hostname'",
        "SET ROLE postgres",
        "SELECT set_config('role', 'postgres', false)",
        "SET SESSION AUTHORIZATION postgres",
        "CREATE EXTENSION dblink",
        "ALTER DATABASE postgres SET statement_timeout = 0",
        "CREATE ROLE intruder LOGIN SUPERUSER",
        "SELECT pg_reload_conf()",
    ],
)
def test_guest_sql_cannot_reach_server_files_programs_or_other_roles(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str], statement: str
) -> None:
    database = make_database()
    with pytest.raises(
        NotPermitted, match=r"permission denied|must be superuser|must be owner|privileges of"
    ):
        database.query(new_tenant(), statement, [], writable=True, timeout=TIMEOUT)
    assert not any(Path("/tmp", name).exists() for name in ("pyjinn-ran", "pyjinn-copied"))


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT pg_sleep(30)",
        "SELECT set_config('statement_timeout', '0', true), pg_sleep(30)",
        "DO $$ BEGIN PERFORM set_config('statement_timeout', '0', true); PERFORM pg_sleep(30); "
        "END $$",
        "SELECT pg_sleep(30) FROM (SELECT set_config('statement_timeout', '0', false)) AS s",
    ],
)
def test_a_statement_cannot_outlive_its_budget_however_it_asks(
    make_database: Callable[..., PostgresDatabase], new_tenant: Callable[[], str], statement: str
) -> None:
    database = make_database()
    started = time.monotonic()
    with pytest.raises(StatementTimeout):
        database.query(new_tenant(), statement, [], writable=True, timeout=1.0)
    assert time.monotonic() - started < 10  # far below the 30 s asked for: the machine is loaded
