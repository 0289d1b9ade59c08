"""Engine settings on every SQLite connection pyjinn opens, so that no SQL reaches the engine's
internals, each verified before the connection is used.

- ``SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER`` off: ``fts3_tokenizer()`` neither hands out the
  address of tokenizer code (which defeats address randomization) nor takes one (an FTS3 table
  would then call whatever address a guest wrote: a crash of the whole process, or worse).
- ``SQLITE_DBCONFIG_DEFENSIVE`` on: no SQL may corrupt the database file on purpose: the
  storage ("shadow") tables of full-text and R*Tree tables are read-only to SQL,
  ``writable_schema`` cannot be turned on, nor the journal off.
- Extension loading off, both ``sqlite3_load_extension()`` and the ``load_extension()``
  function.

``trusted_schema`` stays on. With it off, SQLite refuses every function not marked innocuous
inside views, triggers, indexes, CHECK constraints and generated columns, and the engine this
project runs on (3.40) does not mark its JSON and full-text functions so: a database holding an
index on ``json_extract(...)`` would become unreadable. The authorizer checks the functions of
views and triggers each time a statement uses them, those of indexes, CHECK constraints and
generated columns when they are created, and the screen those of DEFAULT clauses.

Python 3.12 and later set these with ``Connection.setconfig``. On 3.11 the setting goes through
``sqlite3_db_config`` in the libsqlite3 the ``sqlite3`` module uses, with the connection's
handle read from CPython's connection object (``sqlite3 *db``, its first field after the object
header); the handle is first checked against the connection (both must name the same file).
Each setting is read back, and its effect probed through the connection itself. A connection
where any of this fails is refused (``DatabaseUnavailable``), never used unprotected.
"""

from __future__ import annotations

import ctypes
import functools
import sqlite3
import sys
from typing import Any

from pyjinn.backends.sql import DatabaseUnavailable

_FTS3_TOKENIZER, _LOAD_EXTENSION, _DEFENSIVE = 1004, 1005, 1010
SETTINGS = (
    (_FTS3_TOKENIZER, False, "SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER"),
    (_LOAD_EXTENSION, False, "SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION"),
    (_DEFENSIVE, True, "SQLITE_DBCONFIG_DEFENSIVE"),
)


class _Refused(Exception):
    pass


def harden(connection: sqlite3.Connection) -> None:
    """Apply and verify the settings above on a connection just opened; raise
    ``DatabaseUnavailable`` (the caller closes the connection) when they do not hold."""
    try:
        if hasattr(connection, "enable_load_extension"):  # absent when SQLite was built without
            connection.enable_load_extension(False)
        configure = _setconfig if hasattr(connection, "setconfig") else _db_config
        for operation, enable, name in SETTINGS:
            if configure(connection, operation, enable) != enable:
                raise _Refused(f"{name} did not stay {'on' if enable else 'off'}")
        _probe(connection)
    except (_Refused, sqlite3.Error) as error:
        raise DatabaseUnavailable(
            f"cannot protect the SQLite connection ({error}); pyjinn runs no guest SQL on a "
            "connection without its protections"
        ) from None


def _setconfig(connection: Any, operation: int, enable: bool) -> bool:
    connection.setconfig(operation, enable)
    return bool(connection.getconfig(operation))


def _db_config(connection: sqlite3.Connection, operation: int, enable: bool) -> bool:
    library = _library()
    handle = _handle(connection, library)
    result = ctypes.c_int(-1)
    code = library.sqlite3_db_config(
        ctypes.c_void_p(handle), ctypes.c_int(operation), ctypes.c_int(int(enable)),
        ctypes.byref(result),
    )  # fmt: skip
    if code != 0:
        raise _Refused(f"sqlite3_db_config({operation}) failed with code {code}")
    return bool(result.value)


@functools.cache
def _library() -> ctypes.CDLL:
    # dlsym through the sqlite3 module's own extension finds the libsqlite3 it links (or the
    # copy built into it), whatever other copies the process holds.
    import _sqlite3

    try:
        library = ctypes.CDLL(_sqlite3.__file__)
        library.sqlite3_db_config.restype = ctypes.c_int  # variadic: no argtypes
        filename = library.sqlite3_db_filename
    except (OSError, AttributeError) as error:
        raise _Refused(
            f"the SQLite library of the sqlite3 module is not reachable: {error}"
        ) from None
    filename.restype = ctypes.c_char_p
    filename.argtypes = (ctypes.c_void_p, ctypes.c_char_p)
    return library


def _handle(connection: sqlite3.Connection, library: ctypes.CDLL) -> int:
    if (
        sys.implementation.name != "cpython"
        or sys.version_info[:2] != (3, 11)
        or type(connection) is not sqlite3.Connection
    ):
        raise _Refused(
            f"no way to reach the connection's handle on {sys.implementation.name} "
            f"{sys.version_info[0]}.{sys.version_info[1]} ({type(connection).__name__})"
        )
    handle = ctypes.c_void_p.from_address(id(connection) + object.__basicsize__).value
    if not handle:
        raise _Refused("the connection has no handle")
    expected = next(
        row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"
    )
    found = library.sqlite3_db_filename(handle, b"main")
    if (found or b"").decode(errors="replace") != (expected or ""):
        raise _Refused("the handle found is not the connection's")
    return handle


def _probe(connection: sqlite3.Connection) -> None:
    # With writable_schema on, only the defensive flag keeps SQL from changing the schema
    # table: an UPDATE of no row of the connection's own temp schema shows which holds.
    connection.execute("PRAGMA writable_schema = ON")
    try:
        connection.execute("UPDATE temp.sqlite_master SET sql = sql WHERE 0")
    except sqlite3.OperationalError as error:
        if "may not be modified" not in str(error):
            raise
    else:
        raise _Refused("the schema table stays writable: the defensive flag is not in force")
    finally:
        connection.execute("PRAGMA writable_schema = OFF")
    try:
        leaked = connection.execute("SELECT fts3_tokenizer('simple')").fetchone()
    except sqlite3.OperationalError as error:
        if "no such function" in str(error):  # SQLite built without FTS3
            return
        raise
    if leaked != (None,):
        raise _Refused("fts3_tokenizer() still answers with an address")
