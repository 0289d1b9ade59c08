"""PostgreSQL through psycopg 3 and a bounded connection pool; a schema per tenant.

- **Pool.** At most ``pool_size`` connections per process and database, opened on demand. A
  call waits for a free one within its budget, then gets ``DatabaseUnavailable``: a flood of
  invocations queues, it never opens more connections.
- **Tenants.** Each call runs in one transaction with ``search_path`` set to the tenant's schema
  (``tenant_<name>``, created on first use), so unqualified names are the tenant's own. When the
  connection goes back to the pool, ``DISCARD ALL`` drops whatever the call left in the session
  (temporary tables, settings, prepared statements, advisory locks). A schema is a namespace,
  not a wall: SQL that names another tenant's schema reaches it if the database role may. Give
  tenants that must not trust each other their own database and role (``db_dsn`` per function).
- **Read-only** calls run in a ``READ ONLY`` transaction that is always rolled back.
- **One statement per call**, sent with the extended protocol (which refuses several), with the
  server's own placeholders ``$1, $2, ...``: ``%`` in the SQL is a plain character.
- **Time.** ``statement_timeout`` is the call's remaining budget; the server cancels a statement
  that outlives it (a statement that changes the setting keeps the timer it started with).
- **Role.** PostgreSQL has no authorizer: what guest SQL may do is what the ``db_dsn`` role may
  do, and a session can always return to its login role (``RESET ROLE``), so the login role is
  the limit. Before the first call, the backend refuses (``DatabaseUnavailable``) a role that
  is, or may become (``SET ROLE``), a superuser, a role that creates roles, replicates or
  bypasses row security, or a member of the roles that read or write server files, run
  programs, read or write all data, read all statistics or signal other sessions. Any other role
  gets "permission denied" from the server for ``pg_read_file``, ``lo_import``,
  ``COPY ... TO PROGRAM``, ``COPY`` to and from files, ``SET ROLE postgres`` and the like.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg_pool import ConnectionPool, PoolTimeout

from pyjinn.backends.sql import (
    MAX_RESULT_BYTES,
    DatabaseUnavailable,
    NotPermitted,
    Outcome,
    Params,
    ReadOnlyViolation,
    Rows,
    StatementError,
    StatementTimeout,
    collect_rows,
)

T = TypeVar("T")

APPLICATION_NAME = "pyjinn"
FETCH_BATCH = 256
MAX_POOL_WAIT = 1.0  # seconds a call waits for a connection, at most: longer means overload
_MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
# Predefined roles whose members reach past their database: files, programs, all data, others.
_REACHING_ROLES = (
    "pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
    "pg_read_all_data", "pg_write_all_data", "pg_read_all_stats", "pg_signal_backend",
)  # fmt: skip
_ROLE_REACH = (
    "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolreplication, r.rolbypassrls, "
    "current_user FROM pg_roles AS r WHERE pg_has_role(current_user, r.oid, 'MEMBER') "
    "AND (r.rolsuper OR r.rolcreaterole OR r.rolreplication OR r.rolbypassrls OR r.rolname IN ("
    + ", ".join(f"'{name}'" for name in _REACHING_ROLES)
    + ")) ORDER BY r.rolname = current_user DESC, r.rolname"
)


def schema_name(tenant: str) -> str:
    """The tenant's schema: ``tenant_<name>``. Names too long for an identifier keep a prefix
    and a digest after ``~``, a character no tenant name holds, so no two tenants share one."""
    name = f"tenant_{tenant}"
    if len(name) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(tenant.encode()).hexdigest()[:17]
    return f"tenant_{tenant[:38]}~{digest}"


class PostgresDatabase:
    """A PostgreSQL database at ``dsn``, shared by tenants through their schemas."""

    def __init__(self, dsn: str, *, pool_size: int) -> None:
        self.pool_size = pool_size
        self._pool = ConnectionPool(
            dsn,
            min_size=0,
            max_size=pool_size,
            open=False,
            name="pyjinn-sql",
            kwargs={
                "autocommit": True,  # transactions are explicit: BEGIN [READ ONLY] per call
                "prepare_threshold": None,  # DISCARD ALL would drop psycopg's prepared ones
                "application_name": APPLICATION_NAME,
                "cursor_factory": psycopg.RawCursor,  # $1 placeholders, % is plain text
            },
            check=ConnectionPool.check_connection,
            reset=_reset,
        )
        self._opened = False
        self._lock = threading.Lock()
        self._schemas: set[str] = set()
        self._role_checked = False

    def query(
        self, tenant: str, sql: str, params: Params, *, writable: bool, timeout: float
    ) -> Rows:
        def run(cursor: psycopg.Cursor[Any]) -> Rows:
            if cursor.description is None:
                return Rows([], [])
            columns = [column.name for column in cursor.description]
            batches = iter(lambda: cursor.fetchmany(FETCH_BATCH), [])
            return Rows(columns, collect_rows(batches, MAX_RESULT_BYTES))

        return self._call(tenant, sql, params, writable, timeout, run)

    def execute(self, tenant: str, sql: str, params: Params, *, timeout: float) -> Outcome:
        def run(cursor: psycopg.Cursor[Any]) -> Outcome:
            return Outcome(max(cursor.rowcount, 0), None)

        return self._call(tenant, sql, params, True, timeout, run)

    def close(self) -> None:
        with self._lock:
            if self._opened:
                self._pool.close()
                self._opened = False

    def connections(self) -> int:
        """Connections the pool holds now, in use or idle (at most ``pool_size``)."""
        return int(self._pool.get_stats().get("pool_size", 0))

    # -- one call ---------------------------------------------------------------------------

    def _call(
        self,
        tenant: str,
        statement: str,
        params: Params,
        writable: bool,
        timeout: float,
        run: Callable[[psycopg.Cursor[Any]], T],
    ) -> T:
        deadline = time.monotonic() + timeout
        pool = self._open_pool()
        wait = min(timeout, MAX_POOL_WAIT)
        try:
            connection = pool.getconn(timeout=max(wait, 0.001))
        except PoolTimeout:
            raise DatabaseUnavailable(
                f"no database connection became free within {wait:.3g}s "
                f"(all {self.pool_size} of the pool are in use, or the server is unreachable)"
            ) from None
        try:
            if not self._role_checked:
                _check_role(connection)
                self._role_checked = True
            return self._transaction(connection, tenant, statement, params, writable, deadline, run)
        finally:
            pool.putconn(connection)

    def _transaction(
        self,
        connection: psycopg.Connection[Any],
        tenant: str,
        statement: str,
        params: Params,
        writable: bool,
        deadline: float,
        run: Callable[[psycopg.Cursor[Any]], T],
    ) -> T:
        schema = schema_name(tenant)
        try:
            if schema not in self._schemas:
                self._create_schema(connection, schema)
            milliseconds = max(1, int((deadline - time.monotonic()) * 1000))
            cursor = connection.cursor()
            cursor.execute(
                sql.SQL("BEGIN {}; SET LOCAL statement_timeout = {}; SET LOCAL search_path TO {}")
                .format(
                    sql.SQL("READ WRITE" if writable else "READ ONLY"),
                    sql.Literal(milliseconds),
                    sql.Identifier(schema),
                )
                .as_string(connection)
            )
            # In a pipeline psycopg always uses the extended protocol: one statement only.
            with connection.pipeline():
                cursor.execute(statement, list(params))
            result = run(cursor)
            cursor.execute("COMMIT" if writable else "ROLLBACK")
            return result
        except psycopg.Error as error:
            _roll_back(connection)
            raise _translate(error) from None
        except BaseException:
            _roll_back(connection)
            raise

    def _create_schema(self, connection: psycopg.Connection[Any], schema: str) -> None:
        try:
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
        except errors.UniqueViolation:
            pass  # created at the same moment by another process
        except errors.InsufficientPrivilege as error:
            raise DatabaseUnavailable(
                f"cannot create the tenant's schema {schema}: {_message(error)} (the db_dsn "
                "role needs CREATE on the database)"
            ) from None
        self._schemas.add(schema)

    def _open_pool(self) -> ConnectionPool[Any]:
        # Opened on first use, in the process that uses it (pyjinn up forks its workers).
        if not self._opened:
            with self._lock:
                if not self._opened:
                    self._pool.open(wait=False)
                    self._opened = True
        return self._pool


def _check_role(connection: psycopg.Connection[Any]) -> None:
    """Refuse a login role that guest SQL could use to reach past its database."""
    try:
        reaching = connection.execute(_ROLE_REACH).fetchone()
    except psycopg.Error as error:
        raise DatabaseUnavailable(f"cannot check the db_dsn role: {_message(error)}") from None
    if reaching is None:
        return
    name, superuser, creates_roles, replicates, bypasses_security, login = reaching
    what = (
        "a superuser" if superuser
        else "allowed to create roles" if creates_roles
        else "a replication role" if replicates
        else "exempt from row security" if bypasses_security
        else "a predefined role that reaches past its database"
    )  # fmt: skip
    if name != login:
        what = f"a member of {name}" + (f", {what}" if name not in _REACHING_ROLES else "")
    raise DatabaseUnavailable(
        f"the db_dsn role {login!r} is {what}: guest SQL would run with its privileges (server "
        "files, programs, other roles); give pyjinn a role that may create schemas in its "
        "database and nothing more"
    )


def _reset(connection: psycopg.Connection[Any]) -> None:
    connection.execute("DISCARD ALL")


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    if connection.closed or connection.info.transaction_status in (
        psycopg.pq.TransactionStatus.IDLE,
        psycopg.pq.TransactionStatus.UNKNOWN,
    ):
        return
    with contextlib.suppress(psycopg.Error):  # the pool discards one it cannot reset
        connection.execute("ROLLBACK")


def _translate(error: psycopg.Error) -> Exception:
    message = _message(error)
    if isinstance(error, errors.QueryCanceled):
        return StatementTimeout("the statement ran past its time budget and was cancelled")
    if isinstance(error, errors.ReadOnlySqlTransaction):
        return ReadOnlyViolation(f"{message} (the function may only read: permissions db read)")
    if isinstance(error, errors.InsufficientPrivilege):
        return NotPermitted(message)
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        return DatabaseUnavailable(message)
    return StatementError(message)


def _message(error: psycopg.Error) -> str:
    return error.diag.message_primary or str(error).strip() or type(error).__name__
