"""SQL databases: the contract every backend keeps, and what they share.

A backend keeps each tenant's data apart (a database file per tenant, or a schema per tenant)
so that no call names a tenant it does not act for. Every call runs exactly one statement, in a
transaction of its own that commits when the call succeeds (and, for read-only calls, never).
Parameters are bound by the engine, never formatted into the SQL.

Read-only calls are enforced by the engine: a read-only connection or transaction, so a write
fails inside the database whatever the SQL says. Calls come from guest threads, synchronously,
with a time budget in seconds; a statement that outlives it is cancelled.

Values come back as JSON values (see ``json_value``): bytes as ``{"base64": "..."}``, exact
numbers that JSON cannot hold exactly (PostgreSQL ``numeric``) as strings, times as ISO 8601.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A result larger than this (as JSON, about) is refused rather than built: add a LIMIT.
MAX_RESULT_BYTES = 16 * 1024 * 1024

Params = Sequence[Any]  # None, bool, int, float, str or bytes, one per placeholder


class DatabaseUnavailable(Exception):
    """The database cannot be reached, opened, or give a connection within the budget."""


class StatementError(Exception):
    """The engine refused the statement (syntax, constraint, types): the guest's error."""


class ReadOnlyViolation(StatementError):
    """A statement tried to write through a read-only connection or transaction."""


class NotPermitted(StatementError):
    """The statement uses a feature pyjinn keeps from guests (ATTACH, most PRAGMAs, ...)."""


class StatementTimeout(Exception):
    """The statement was cancelled because it outlived its time budget."""


class ResultTooLarge(Exception):
    """The result would be larger than the backend's limit."""


@dataclass(frozen=True)
class Rows:
    """A query's result: column names, and rows of JSON values."""

    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Outcome:
    """What a statement changed. ``last_insert_id`` is None where the engine has no such
    thing (PostgreSQL: use ``RETURNING``) or the statement inserted nothing."""

    rows_affected: int
    last_insert_id: int | None


class SqlDatabase(Protocol):
    """A SQL database partitioned by tenant."""

    def query(
        self, tenant: str, sql: str, params: Params, *, writable: bool, timeout: float
    ) -> Rows:
        """Run one statement and return its rows (none for a statement without a result).
        With ``writable`` False the statement runs read-only."""
        ...

    def execute(self, tenant: str, sql: str, params: Params, *, timeout: float) -> Outcome:
        """Run one statement that may write, and commit it."""
        ...

    def close(self) -> None:
        """Close every connection; further calls may fail."""
        ...


def json_value(value: Any) -> Any:
    """A value from a driver as a JSON value (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return str(value)


def collect_rows(batches: Iterable[Sequence[Sequence[Any]]], limit: int) -> list[list[Any]]:
    """Rows as lists of JSON values, raising ResultTooLarge once their size passes ``limit``
    (estimated while converting, so a huge result is never held whole)."""
    rows: list[list[Any]] = []
    size = 0
    for batch in batches:
        for row in batch:
            converted = [json_value(value) for value in row]
            size += sum(_estimate(value) for value in converted) + 2
            if size > limit:
                raise ResultTooLarge(f"the result is larger than {limit} bytes; add a LIMIT")
            rows.append(converted)
    return rows


def _estimate(value: Any) -> int:
    if isinstance(value, str):
        return len(value) + 3
    if isinstance(value, dict) and "base64" in value:
        return len(value["base64"]) + 14
    if isinstance(value, (list, dict)):
        return len(str(value))
    return 8
