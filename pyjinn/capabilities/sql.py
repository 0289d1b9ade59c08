"""The SQL capability: one statement per call, against the tenant's own database or schema.

Guarded by ``permissions { db read }`` (``db_query`` on a read-only connection or transaction)
or ``db write`` (``db_query`` and ``db_exec``, read-write). Which database a function uses is its
configuration (``db_driver``, ``db_dsn``); the tenant is the invocation's.

Parameters are a JSON array, bound by the engine and never formatted into the SQL: ``null``,
booleans, numbers, strings, and ``{"base64": "..."}`` for bytes. Results are JSON:
``{"columns": [...], "rows": [[...], ...]}`` (bytes as ``{"base64": "..."}``), and for
``db_exec`` ``{"rows_affected": N, "last_insert_id": N or null}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pyjinn.abi import ErrorCode
from pyjinn.backends.sql import (
    DatabaseUnavailable,
    NotPermitted,
    ReadOnlyViolation,
    ResultTooLarge,
    SqlDatabase,
    StatementError,
    StatementTimeout,
)
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import Permissions

T = TypeVar("T")

MAX_SQL_LENGTH = 1024 * 1024
MAX_PARAMS_LENGTH = 64 * 1024 * 1024
MAX_BUDGET = 30.0  # seconds; the invocation's remaining time bounds it first


class Sql:
    name = "db"

    def __init__(self, databases: Mapping[str, SqlDatabase]) -> None:
        """``databases`` holds each function's database, by function name."""
        self.databases = databases

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        # No namespaces: each tenant has a database (or schema) of its own.
        return grants.denial(permissions, call)

    def db_query(self, call: Call, sql: str, params: bytes) -> bytes:
        database, writable = self._database(call)
        values = parse_params(params)
        _check_sql(sql)
        rows = _backend(
            database.query, call.tenant, sql, values, writable=writable, timeout=_budget(call)
        )
        return _json({"columns": rows.columns, "rows": rows.rows})

    def db_exec(self, call: Call, sql: str, params: bytes) -> bytes:
        database, _ = self._database(call)
        values = parse_params(params)
        _check_sql(sql)
        outcome = _backend(database.execute, call.tenant, sql, values, timeout=_budget(call))
        return _json(
            {"rows_affected": outcome.rows_affected, "last_insert_id": outcome.last_insert_id}
        )

    # Gojinn's convention: raw SQL, rows as objects, copied up to out_max bytes.

    def host_db_query(self, call: Call, sql: str, out: tuple[int, int]) -> int:
        database, writable = self._database(call)
        _check_sql(sql)
        rows = _backend(
            database.query, call.tenant, sql, [], writable=writable, timeout=_budget(call)
        )
        objects = [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]
        pointer, capacity = out
        data = _json(objects)[:capacity]
        assert call.memory is not None
        call.memory.write(pointer, data)
        return len(data)

    def _database(self, call: Call) -> tuple[SqlDatabase, bool]:
        host = call.context.host
        database = self.databases.get(host.function) if host is not None else None
        if database is None or host is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no database is configured")
        return database, host.permissions.allows_db_write


def parse_params(params: bytes) -> list[Any]:
    """The JSON array of parameters as values to bind (empty input: no parameters)."""
    if not params.strip():
        return []
    if len(params) > MAX_PARAMS_LENGTH:
        raise HostCallError(
            ErrorCode.LIMIT, f"params of {len(params)} bytes exceed {MAX_PARAMS_LENGTH} bytes"
        )
    try:
        decoded = json.loads(params)
    except (ValueError, RecursionError) as error:
        raise HostCallError(ErrorCode.INVALID, f"params are not valid JSON: {error}") from None
    if not isinstance(decoded, list):
        raise HostCallError(ErrorCode.INVALID, 'params must be a JSON array, like [1, "a"]')
    return [_param(index, value) for index, value in enumerate(decoded)]


def _param(index: int, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        try:
            return base64.b64decode(value["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise HostCallError(
                ErrorCode.INVALID, f"params[{index}]: the base64 text is not valid base64"
            ) from None
    raise HostCallError(
        ErrorCode.INVALID,
        f'params[{index}] must be null, a boolean, a number, a string or {{"base64": "..."}}',
    )


def _check_sql(sql: str) -> None:
    if len(sql) > MAX_SQL_LENGTH:
        raise HostCallError(
            ErrorCode.LIMIT, f"SQL of {len(sql)} characters exceeds {MAX_SQL_LENGTH}"
        )
    if not sql.strip():
        raise HostCallError(ErrorCode.INVALID, "the SQL is empty")


def _budget(call: Call) -> float:
    budget = call.budget(MAX_BUDGET)
    if budget <= 0:
        raise HostCallError(ErrorCode.LIMIT, "the invocation has no time left for a statement")
    return budget


def _backend(operation: Callable[..., T], *arguments: Any, **options: Any) -> T:
    try:
        return operation(*arguments, **options)
    except (ReadOnlyViolation, NotPermitted) as error:
        raise HostCallError(ErrorCode.DENIED, str(error)) from None
    except StatementError as error:
        raise HostCallError(ErrorCode.INVALID, f"SQL error: {error}") from None
    except (StatementTimeout, ResultTooLarge) as error:
        raise HostCallError(ErrorCode.LIMIT, str(error)) from None
    except DatabaseUnavailable as error:
        raise HostCallError(ErrorCode.UNAVAILABLE, f"database unavailable: {error}") from None


# ASCII escapes: valid JSON and UTF-8 whatever text the database holds. One encoder, made once.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()
