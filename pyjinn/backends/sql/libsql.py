"""libSQL (the ``libsql`` package, local files): one database file per tenant, like SQLite.

The libsql binding (0.1.11) exposes less of the engine than the standard library's sqlite3:
no authorizer, no connection settings (``sqlite3_db_config``), no limits, no progress handler
or interrupt. Its engine (SQLite 3.45 with SQLite3 Multiple Ciphers) also builds in functions
that read and write any file (``readfile``, ``writefile``, ``fsdir``) and run SQL of their own
(``sha3_query``). So:

- read-only calls use a ``mode=ro`` connection, as for SQLite: writes fail in the engine;
- ATTACH/DETACH, VACUUM, transaction control and PRAGMAs other than introspection are refused
  by the statement's first keyword (the binding runs only the first statement of a string, so
  pyjinn refuses SQL with more than one, rather than let the rest be ignored);
- the ``screen`` refuses every function and module off the allow-list (``allowed``) by name, and
  ``pragma_NAME`` functions for PRAGMAs other than introspection. The engine itself refuses
  the dangerous ones in views, triggers and schemas (``readfile``, ``writefile``,
  ``sha3_query``, ``load_extension``, ``fts3_tokenizer``, ``fsdir`` and ``sqlite_dbpage`` are
  direct-only), and its FTS3 tokenizer flag is off by default; pyjinn cannot check either;
- writable calls hold the write lock for their statement, which may not touch the storage of
  virtual tables and vector indexes (``libsql_storage``): the defensive flag, by other means;
- a statement is not cancelled when its budget runs out (the binding cannot interrupt one); the
  busy timeout still follows the budget;
- integers beyond ±2^31 are bound as floating point by the binding: exact up to 2^53, and
  stored as integers in INTEGER columns; larger ones are refused rather than rounded. Text
  holding NUL, which the binding would cut short, is refused too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import libsql

from pyjinn.backends.sql import (
    MAX_RESULT_BYTES,
    DatabaseUnavailable,
    NotPermitted,
    Outcome,
    Params,
    ReadOnlyViolation,
    Rows,
    StatementError,
    collect_rows,
)
from pyjinn.backends.sql.files import IdleConnections, database_path
from pyjinn.backends.sql.libsql_storage import StorageGuard
from pyjinn.backends.sql.screen import Screen, engine_catalog, tokens

T = TypeVar("T")

FETCH_BATCH = 256
EXACT_INTEGER = 2**53
_NO_INSERT = -(2**31)  # the binding keeps 32-bit integers exact
_ROWID_TABLE = "pyjinn_rowid"
_REFUSED = {
    "ATTACH": "ATTACH and DETACH are not available: each tenant has one database",
    "DETACH": "ATTACH and DETACH are not available: each tenant has one database",
    "VACUUM": "VACUUM is not available",
    **dict.fromkeys(
        ("BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"),
        "transaction control is not available: each call runs in a transaction of its own",
    ),
}
_INTROSPECTION_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
        "collation_list", "function_list", "module_list", "pragma_list", "compile_options",
        "page_count", "page_size", "freelist_count", "encoding", "schema_version",
        "user_version", "application_id", "data_version", "foreign_keys", "journal_mode",
    }
)  # fmt: skip
_UNAVAILABLE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk I/O error",
    "database disk image is malformed",
    "file is not a database",
    "database or disk is full",
)


class LibsqlDatabase:
    """libSQL files at ``pattern`` (an absolute path holding ``{tenant}``)."""

    def __init__(self, pattern: str, *, busy_timeout: float = 5.0) -> None:
        self.pattern = pattern
        self.busy_timeout = busy_timeout
        self._idle: IdleConnections[_Connection] = IdleConnections(_close)
        self._create_lock = threading.Lock()

    def query(
        self, tenant: str, sql: str, params: Params, *, writable: bool, timeout: float
    ) -> Rows:
        def run(connection: Any) -> Rows:
            cursor = connection.execute(sql, params)
            if not cursor.description:
                return Rows([], [])
            columns = [column[0] for column in cursor.description]
            batches = iter(lambda: cursor.fetchmany(FETCH_BATCH), [])
            return Rows(columns, collect_rows(batches, MAX_RESULT_BYTES))

        return self._call(tenant, sql, params, writable, timeout, run)

    def execute(self, tenant: str, sql: str, params: Params, *, timeout: float) -> Outcome:
        def run(connection: Any) -> Outcome:
            cursor = connection.execute(sql, params)
            if cursor.description:
                while cursor.fetchmany(FETCH_BATCH):  # RETURNING rows: run to the end
                    pass
            inserted = cursor.lastrowid
            return Outcome(
                max(cursor.rowcount, 0),
                inserted if inserted is not None and inserted != _NO_INSERT else None,
            )

        return self._call(tenant, sql, params, True, timeout, run, mark_inserts=True)

    def close(self) -> None:
        self._idle.close()

    def _call(
        self,
        tenant: str,
        sql: str,
        params: Params,
        writable: bool,
        timeout: float,
        run: Callable[[Any], T],
        *,
        mark_inserts: bool = False,
    ) -> T:
        keyword = check_statement(sql)
        _screen().check(sql)
        for value in params:
            _check_bindable(value)
        key = (tenant, writable)
        state = self._idle.take(key) or self._open(tenant, writable)
        reusable = True
        try:
            self._prepare(state, timeout, mark_inserts)
            if state.storage is None:
                return run(state.connection)
            state.connection.execute("BEGIN IMMEDIATE")
            state.storage.before(state.connection, sql, keyword)
            result = run(state.connection)
            state.storage.after(state.connection, keyword)
            state.connection.execute("COMMIT")
            return result
        except (ValueError, libsql.Error) as error:
            translated = _translate(error)
            reusable = not isinstance(translated, DatabaseUnavailable)
            raise translated from None
        finally:
            if reusable:
                with contextlib.suppress(Exception):
                    if state.connection.in_transaction:
                        state.connection.rollback()
                self._idle.give_back(key, state)
            else:
                _close(state)

    def _prepare(self, state: _Connection, timeout: float, mark_inserts: bool) -> None:
        busy_ms = max(1, min(int(timeout * 1000), int(self.busy_timeout * 1000)))
        if busy_ms != state.busy_ms:
            state.connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
            state.busy_ms = busy_ms
        if mark_inserts:
            # The binding reads rowcount and lastrowid from the connection (changes() and
            # last_insert_rowid()), which a statement that writes nothing leaves as they were:
            # set both to "nothing" first.
            state.connection.execute(
                f"INSERT OR REPLACE INTO temp.{_ROWID_TABLE}(rowid) VALUES (?)", (_NO_INSERT,)
            )
            state.connection.execute(f"UPDATE temp.{_ROWID_TABLE} SET x = NULL WHERE 0")

    def _open(self, tenant: str, writable: bool) -> _Connection:
        path = database_path(self.pattern, tenant)
        try:
            if not writable and not os.path.exists(path):
                with self._create_lock:
                    _close_connection(self._connect(path, writable=True))  # create, in WAL mode
            return _Connection(self._connect(path, writable=writable), writable)
        except (ValueError, libsql.Error) as error:
            raise DatabaseUnavailable(f"cannot open the tenant's database: {error}") from None

    def _connect(self, path: str, *, writable: bool) -> Any:
        target = path if writable else Path(path).as_uri() + "?mode=ro"
        connection = libsql.connect(
            target, timeout=self.busy_timeout, isolation_level=None, _check_same_thread=False
        )
        if writable:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_ROWID_TABLE} (x)")
        connection.execute("PRAGMA foreign_keys = ON")
        return connection


class _Connection:
    __slots__ = ("busy_ms", "connection", "storage")

    def __init__(self, connection: Any, writable: bool) -> None:
        self.connection = connection
        self.busy_ms = -1
        self.storage = StorageGuard() if writable else None


@functools.cache
def _screen() -> Screen:
    connection = libsql.connect(":memory:")
    try:
        return Screen(*engine_catalog(connection), pragmas=_INTROSPECTION_PRAGMAS)
    finally:
        connection.close()


@functools.lru_cache(maxsize=1024)  # guests send the same statements again and again
def check_statement(sql: str) -> str:
    """Refuse SQL the binding cannot be trusted with: more than one statement (it would run the
    first only), and ATTACH, DETACH, VACUUM, transaction control or a PRAGMA that is not
    introspection, found by the first keyword (the engine offers no authorizer here). Returns
    that keyword, in upper case ("" for none)."""
    words: list[str] = []
    in_trigger = False
    ended = False
    previous_word = ""
    for token in tokens(sql):
        if ended:
            if token.kind != "semicolon":
                raise StatementError(
                    "only one statement may be run per call; run the others in calls of their own"
                )
            continue
        if token.kind == "word":
            upper = token.text.upper()
            if len(words) < 3:
                words.append(upper)
                in_trigger = "TRIGGER" in words and words[0] == "CREATE"
            previous_word = upper
        elif token.kind == "semicolon":
            if words and (not in_trigger or previous_word == "END"):
                ended = True
            previous_word = ""
        else:
            previous_word = ""
    if not words:
        return ""
    reason = _REFUSED.get(words[0])
    if reason is not None:
        raise NotPermitted(reason)
    if words[0] == "PRAGMA":
        _check_pragma(sql)
    return words[0]


def _check_pragma(sql: str) -> None:
    texts = [token.text for token in tokens(sql)]
    name = texts[1].lower() if len(texts) > 1 else ""
    if len(texts) > 3 and texts[2] == ".":
        name = texts[3].lower()  # PRAGMA main.table_info(...)
    if name not in _INTROSPECTION_PRAGMAS or "=" in texts:
        raise NotPermitted(f"PRAGMA {name} is not available")


def _check_bindable(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > EXACT_INTEGER:
        raise StatementError(
            f"integer {value} is too large for the libsql driver, which binds integers as "
            "floating point (exact up to 2^53); pass it as text"
        )
    if isinstance(value, str) and "\x00" in value:
        raise StatementError(
            "the libsql driver cuts text at a NUL character; pass such a value as bytes "
            '({"base64": "..."})'
        )


def _translate(error: Exception) -> Exception:
    message = str(error)
    if "readonly database" in message:
        return ReadOnlyViolation(f"{message} (the function may only read: permissions db read)")
    if any(known in message for known in _UNAVAILABLE_MESSAGES):
        return DatabaseUnavailable(message)
    return StatementError(message)


def _close(state: _Connection) -> None:
    _close_connection(state.connection)


def _close_connection(connection: Any) -> None:
    with contextlib.suppress(Exception):
        connection.close()
