"""SQLite through the standard library: one database file per tenant, in WAL mode.

Guests reach nothing but their tenant's file, and nothing of the engine's internals. Each
connection carries:

- the engine settings of ``sqlite_hardening`` (defensive mode, no FTS3 tokenizer pointers, no
  extension loading), verified when it opens;
- an authorizer that allows only the SQL functions and virtual table modules of ``allowed``,
  and refuses ATTACH/DETACH (which could open any file the process can), most PRAGMAs (some
  change the whole process, like ``hard_heap_limit``), and transaction control (each call is a
  transaction of its own), with the attach limit at 0 as a second lock. Before that, each
  statement's text passes the ``screen`` (EXPLAIN, and functions in DEFAULT clauses, which the
  authorizer is not asked about);
- for read-only calls, a connection opened with ``mode=ro``: writes fail in the engine;
- a progress handler that interrupts a statement running past the call's deadline, and a busy
  timeout no longer than the call's budget.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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
from pyjinn.backends.sql.allowed import FUNCTIONS, MODULES, function_refusal, module_refusal
from pyjinn.backends.sql.files import IdleConnections, database_path
from pyjinn.backends.sql.screen import Screen, engine_catalog
from pyjinn.backends.sql.sqlite_hardening import harden

T = TypeVar("T")

PROGRESS_STEPS = 5000  # VM instructions between deadline checks: well under a millisecond
FETCH_BATCH = 256
# The sentinel last_insert_rowid set before each write, to tell whether the statement inserted.
_NO_INSERT = -(2**63)
_ROWID_TABLE = "pyjinn_rowid"  # a TEMP table of each writable connection, for the sentinel

# PRAGMAs a guest may use: introspection (any argument), and a few harmless settings.
_PRAGMAS_WITH_ARGUMENT = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
    }
)  # fmt: skip
_PRAGMAS_TO_READ = frozenset(
    {
        "collation_list", "function_list", "module_list", "pragma_list", "compile_options",
        "page_count", "page_size", "freelist_count", "encoding", "schema_version",
        "data_version", "foreign_keys", "journal_mode", "optimize",
    }
)  # fmt: skip
_PRAGMAS_TO_SET = frozenset({"user_version", "application_id", "defer_foreign_keys"})
_SQLITE_INTERRUPT, _SQLITE_READONLY, _SQLITE_AUTH = 9, 8, 23
_UNAVAILABLE_CODES = frozenset({5, 6, 10, 11, 13, 14, 26})  # BUSY LOCKED IOERR CORRUPT FULL ...
_BROKEN_CODES = frozenset({10, 11, 14, 26})  # IOERR CORRUPT CANTOPEN NOTADB: reconnect


class _Connection:
    """A connection and the per-call state its callbacks read."""

    __slots__ = ("busy_ms", "connection", "deadline", "denial", "internal", "writable")

    def __init__(self, writable: bool) -> None:
        self.writable = writable
        self.deadline = 0.0
        self.busy_ms = -1
        self.denial = ""
        self.internal = True  # pyjinn's own statements pass the authorizer
        self.connection: sqlite3.Connection

    def progress(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def authorize(
        self, action: int, first: str | None, second: str | None, _db: str | None, _t: str | None
    ) -> int:
        if self.internal:
            return sqlite3.SQLITE_OK
        reason = _refusal(action, first, second)
        if reason is None:
            return sqlite3.SQLITE_OK
        self.denial = reason
        return sqlite3.SQLITE_DENY


def _refusal(action: int, first: str | None, second: str | None) -> str | None:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return "ATTACH and DETACH are not available: each tenant has one database"
    if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
        return "transaction control is not available: each call runs in a transaction of its own"
    if action == sqlite3.SQLITE_PRAGMA:
        name = (first or "").lower()
        if name in _PRAGMAS_WITH_ARGUMENT or name in _PRAGMAS_TO_SET:
            return None
        if name in _PRAGMAS_TO_READ and second is None:
            return None
        return f"PRAGMA {name} is not available"
    if action == sqlite3.SQLITE_FUNCTION:  # (None, function name)
        name = (second or "").lower()
        return None if name in FUNCTIONS else function_refusal(name)
    if action == sqlite3.SQLITE_CREATE_VTABLE:  # (table, module)
        return None if (second or "").lower() in MODULES else module_refusal(second or "")
    if _ROWID_TABLE in (first, second):  # a temp trigger's second is its table
        return f"table {_ROWID_TABLE} belongs to pyjinn"
    return None


@functools.cache
def _screen() -> Screen:
    connection = sqlite3.connect(":memory:")
    try:
        return Screen(*engine_catalog(connection))
    finally:
        connection.close()


class SqliteDatabase:
    """SQLite files at ``pattern`` (an absolute path holding ``{tenant}``)."""

    def __init__(self, pattern: str, *, busy_timeout: float = 5.0) -> None:
        self.pattern = pattern
        self.busy_timeout = busy_timeout
        self._idle: IdleConnections[_Connection] = IdleConnections(_close)

    def query(
        self, tenant: str, sql: str, params: Params, *, writable: bool, timeout: float
    ) -> Rows:
        def run(connection: sqlite3.Connection) -> Rows:
            cursor = connection.execute(sql, params)
            try:
                if cursor.description is None:
                    return Rows([], [])
                columns = [column[0] for column in cursor.description]
                batches = iter(lambda: cursor.fetchmany(FETCH_BATCH), [])
                return Rows(columns, collect_rows(batches, MAX_RESULT_BYTES))
            finally:
                cursor.close()

        return self._call(tenant, sql, writable, timeout, run)

    def execute(self, tenant: str, sql: str, params: Params, *, timeout: float) -> Outcome:
        def run(connection: sqlite3.Connection) -> Outcome:
            cursor = connection.execute(sql, params)
            try:
                while cursor.fetchmany(FETCH_BATCH):  # RETURNING rows: run to the end
                    pass
                inserted = cursor.lastrowid
                return Outcome(
                    max(cursor.rowcount, 0),
                    inserted if inserted is not None and inserted != _NO_INSERT else None,
                )
            finally:
                cursor.close()

        return self._call(tenant, sql, True, timeout, run, mark_inserts=True)

    def close(self) -> None:
        self._idle.close()

    # -- one call ---------------------------------------------------------------------------

    def _call(
        self,
        tenant: str,
        sql: str,
        writable: bool,
        timeout: float,
        run: Callable[[sqlite3.Connection], T],
        *,
        mark_inserts: bool = False,
    ) -> T:
        _screen().check(sql)
        key = (tenant, writable)
        state = self._idle.take(key) or self._open(tenant, writable)
        reusable = True
        try:
            self._prepare(state, timeout, mark_inserts)
            state.internal = False
            return run(state.connection)
        except sqlite3.Error as error:
            reusable = _primary_code(error) not in _BROKEN_CODES
            raise _translate(error, state) from None
        except (OverflowError, ValueError) as error:  # a parameter SQLite cannot bind
            raise StatementError(str(error)) from None
        finally:
            state.internal = True
            state.denial = ""
            if reusable and state.connection.in_transaction:
                state.connection.rollback()
            if reusable:
                self._idle.give_back(key, state)
            else:
                _close(state)

    def _prepare(self, state: _Connection, timeout: float, mark_inserts: bool) -> None:
        state.deadline = time.monotonic() + timeout
        busy_ms = max(1, min(int(timeout * 1000), int(self.busy_timeout * 1000)))
        if busy_ms != state.busy_ms:
            state.connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
            state.busy_ms = busy_ms
        if mark_inserts:
            state.connection.execute(
                f"INSERT OR REPLACE INTO temp.{_ROWID_TABLE}(rowid) VALUES (?)", (_NO_INSERT,)
            )

    def _open(self, tenant: str, writable: bool) -> _Connection:
        path = database_path(self.pattern, tenant)
        state = _Connection(writable)
        try:
            if not writable and not os.path.exists(path):
                _close_connection(self._connect(path, writable=True))  # create it, in WAL mode
            state.connection = self._connect(path, writable=writable)
        except sqlite3.Error as error:
            raise DatabaseUnavailable(f"cannot open the tenant's database: {error}") from None
        connection = state.connection
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.set_authorizer(state.authorize)
        connection.set_progress_handler(state.progress, PROGRESS_STEPS)
        return state

    def _connect(self, path: str, *, writable: bool) -> sqlite3.Connection:
        target, uri = (path, False) if writable else (Path(path).as_uri() + "?mode=ro", True)
        connection = sqlite3.connect(
            target,
            uri=uri,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit: each statement is its own transaction
            check_same_thread=False,  # one thread at a time, but not always the same one
            cached_statements=128,
        )
        try:
            harden(connection)
            if writable:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = NORMAL")
                connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_ROWID_TABLE} (x)")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            _close_connection(connection)
            raise
        return connection


def _translate(error: sqlite3.Error, state: _Connection) -> Exception:
    if state.denial:  # the authorizer refused part of the statement (SQLite says AUTH or ERROR)
        return NotPermitted(state.denial)
    primary = _primary_code(error)
    if primary == _SQLITE_INTERRUPT:
        return StatementTimeout("the statement ran past its time budget and was interrupted")
    if primary == _SQLITE_READONLY:
        return ReadOnlyViolation(f"{error} (the function may only read: permissions db read)")
    if primary == _SQLITE_AUTH:
        return NotPermitted(str(error))
    if primary in _UNAVAILABLE_CODES:
        return DatabaseUnavailable(str(error))
    return StatementError(str(error))


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _close(state: _Connection) -> None:
    _close_connection(state.connection)


def _close_connection(connection: Any) -> None:
    # Closing a broken connection must not hide the error being reported.
    with contextlib.suppress(Exception):
        connection.close()
