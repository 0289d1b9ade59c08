"""The storage of libSQL's virtual tables and vector indexes, kept from guest SQL: what SQLite's
defensive flag does, which the libsql binding cannot set.

A full-text, R*Tree or Geopoly table keeps its data in ordinary tables of the same database
("shadow" tables, like ``docs_data``), and a vector index in ``INDEX_shadow`` and
``libsql_vector_meta_shadow``. The engine trusts what it reads there: SQL that writes a crafted
row into one can make it misbehave, or crash the process. So, on a writable connection, each
call runs in a transaction that holds the write lock (``BEGIN IMMEDIATE``: the schema cannot
change under it), and

- a statement that names a storage table (to write, read, rename, drop, or in a trigger's body)
  is refused;
- after a statement that changes the schema, no trigger may name a storage table (a trigger can
  name a table before the virtual table that will own it exists): the statement is undone.

Read-only connections need no guard: they cannot write.
"""

from __future__ import annotations

from typing import Any

from pyjinn.backends.sql import NotPermitted
from pyjinn.backends.sql.screen import names

VECTOR_META = "libsql_vector_meta_shadow"
_SCHEMA_CHANGES = frozenset({"CREATE", "ALTER", "DROP"})
_VECTOR_INDEXES = (
    "SELECT name FROM sqlite_schema WHERE type = 'index' AND sql LIKE '%libsql_vector_idx%' "
    "UNION ALL SELECT name FROM sqlite_temp_schema WHERE type = 'index' "
    "AND sql LIKE '%libsql_vector_idx%'"
)
_TRIGGERS = (
    "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' "
    "UNION ALL SELECT name, sql FROM sqlite_temp_schema WHERE type = 'trigger'"
)


def storage_refusal(table: str) -> str:
    return (
        f"table {table} is the storage of a virtual table or vector index: only the engine may "
        "use it (query the virtual table, or the indexed table, instead)"
    )


class StorageGuard:
    """One writable connection's view of the storage tables, as of the schema it last saw."""

    __slots__ = ("conflict", "storage", "version")

    def __init__(self) -> None:
        self.version = -1
        self.storage: frozenset[str] = frozenset()
        self.conflict: str | None = None  # a trigger that names a storage table

    def before(self, connection: Any, sql: str, keyword: str) -> None:
        """Inside the call's ``BEGIN IMMEDIATE``, before the statement runs."""
        version = connection.execute("PRAGMA schema_version").fetchone()[0]
        if version != self.version:
            self._load(connection, version)
        named = names(sql) & self.storage
        if named:
            raise NotPermitted(storage_refusal(min(named)))
        if self.conflict is not None and not (keyword == "DROP" and "trigger" in names(sql)):
            raise NotPermitted(self.conflict)

    def after(self, connection: Any, keyword: str) -> None:
        """After the statement ran, before the transaction commits."""
        if keyword not in _SCHEMA_CHANGES:
            return
        self._load(connection, connection.execute("PRAGMA schema_version").fetchone()[0])
        if self.conflict is not None:
            raise NotPermitted(self.conflict)

    def _load(self, connection: Any, version: int) -> None:
        shadows = {
            str(row[1]).lower()
            for row in connection.execute("PRAGMA table_list").fetchall()
            if row[2] == "shadow"
        }
        shadows.update(
            f"{row[0]}_shadow".lower() for row in connection.execute(_VECTOR_INDEXES).fetchall()
        )
        shadows.add(VECTOR_META)
        self.storage = frozenset(shadows)
        self.conflict = None
        for name, text in connection.execute(_TRIGGERS).fetchall():
            named = names(text or "") & self.storage
            if named:
                self.conflict = (
                    f"trigger {name} names {min(named)}, the storage of a virtual table "
                    f"or vector index: drop the trigger (DROP TRIGGER {name})"
                )
                break
        self.version = version
