"""Where functions keep SQL data and objects: the ``db_*`` and ``s3_*`` directives.

::

    db_driver sqlite                 # sqlite (alias sqlite3), libsql or postgres
    db_dsn ./data/sql/{tenant}.db    # file engines: a directory, or a pattern with {tenant}
    s3_bucket media                  # alone: the embedded filesystem store under data_dir
    s3_endpoint http://10.0.0.7:8333 # with an endpoint or credentials: that S3 service
    s3_region us-east-1
    s3_access_key {env.S3_KEY}
    s3_secret_key {env.S3_SECRET}

Each may stand in the global options (for every function) and in a function block, where it
replaces the global value; the merged settings are checked once per function. Connection strings
and keys are secrets: they are never rendered or logged.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.files import PathProblem, resolve
from pyjinn.config.model import BlobStorage, Database, StorageSettings
from pyjinn.config.parser import Directive
from pyjinn.extras import MissingExtra, require

STORAGE_DIRECTIVES = (
    "db_driver",
    "db_dsn",
    "s3_endpoint",
    "s3_region",
    "s3_bucket",
    "s3_access_key",
    "s3_secret_key",
)
DRIVERS = {
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
    "libsql": "libsql",
    "postgres": "postgres",
    "postgresql": "postgres",
}
TENANT_PLACEHOLDER = "{tenant}"
# A db_dsn with one of these suffixes and no {tenant} names a single file every tenant would share.
_DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z0-9-]{1,64}")
_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_S3_CONNECTION = ("s3_endpoint", "s3_region", "s3_access_key", "s3_secret_key")

USAGE = {
    "db_driver": "db_driver expects one of sqlite, sqlite3, libsql or postgres, like: "
    "db_driver sqlite",
    "db_dsn": "db_dsn expects one data source, like: db_dsn ./data/{tenant}.db or "
    "db_dsn postgresql://app@db.internal/app",
    "s3_endpoint": "s3_endpoint expects one URL, like: s3_endpoint http://127.0.0.1:8333",
    "s3_region": "s3_region expects one region name, like: s3_region us-east-1",
    "s3_bucket": "s3_bucket expects one bucket name, like: s3_bucket media",
    "s3_access_key": "s3_access_key expects one key, like: s3_access_key {env.S3_ACCESS_KEY}",
    "s3_secret_key": "s3_secret_key expects one key, like: s3_secret_key {env.S3_SECRET_KEY}",
}


def build_storage_setting(directive: Directive, report: Diagnostics) -> str | None:
    """The checked value of one ``db_*``/``s3_*`` directive; None if it was wrong (reported)."""
    name = directive.name
    text = report.single_arg(directive, USAGE[name])
    if text is None:
        return None
    if not text:
        report.error(directive, f"{name} must not be empty")
        return None
    if name == "db_driver":
        driver = DRIVERS.get(text.lower())
        if driver is None:
            extra = " (MySQL is not supported)" if text.lower() == "mysql" else ""
            report.error(
                directive,
                f"unknown db_driver '{text}'{extra}: expected sqlite, sqlite3, libsql or postgres",
            )
        return driver
    if name == "s3_endpoint":
        return _check_endpoint(directive, text, report)
    if name == "s3_bucket" and not _is_bucket_name(text):
        report.error(
            directive,
            f"invalid bucket name '{text}': use 3 to 63 of a-z, 0-9, '.' and '-', starting and "
            "ending with a letter or digit",
        )
        return None
    if name == "s3_region" and not _REGION.fullmatch(text):
        report.error(directive, f"invalid region '{text}': use a-z, 0-9 and '-', like us-east-1")
        return None
    return text


def merge_settings(
    base: StorageSettings, overrides: dict[str, str], lines: dict[str, Directive]
) -> StorageSettings:
    """``base`` with the directives a function block set (already checked) in their place."""
    return replace(base, **{name: value for name, value in overrides.items() if name in lines})


def resolve_database(
    settings: StorageSettings,
    lines: dict[str, Directive],
    *,
    data_dir: Path,
    base_dir: Path,
    report: Diagnostics,
    tenants: frozenset[str] = frozenset(),
) -> Database | None:
    """The database the merged ``settings`` describe; None when there is none (or an error was
    reported). ``lines`` tells where each setting was written, for blame; ``tenants`` are the
    tenants the function serves (a file ``db_dsn`` without ``{tenant}`` is theirs only if
    there is one)."""
    driver, dsn = settings.db_driver, settings.db_dsn
    if driver is None:
        if dsn is not None:
            report.error(
                lines["db_dsn"], "db_dsn needs a db_driver (sqlite, libsql or postgres) next to it"
            )
        return None
    if driver == "postgres":
        if dsn is None:
            report.error(
                lines["db_driver"],
                "db_driver postgres needs a db_dsn, like: db_dsn postgresql://app@db.internal/app",
            )
            return None
        try:
            require("psycopg")
        except MissingExtra as missing:
            report.error(lines["db_driver"], str(missing))
            return None
        if not _is_postgres_dsn(dsn):
            # psycopg's own message may quote the string, password included.
            report.error(
                lines["db_dsn"],
                "db_dsn is not a PostgreSQL connection string: expected a URI like "
                "postgresql://user@host:5432/dbname or key=value pairs like "
                "'host=db.internal dbname=app'",
            )
            return None
        return Database(driver, dsn)
    if driver == "libsql":
        try:
            require("libsql")
        except MissingExtra as missing:
            report.error(lines["db_driver"], str(missing))
            return None
    if dsn is None:
        pattern = str(data_dir / "sql" / f"{TENANT_PLACEHOLDER}.db")
    else:
        try:
            pattern = file_pattern(dsn, base_dir, tenants)
        except ValueError as error:
            report.error(lines["db_dsn"], str(error))
            return None
    return Database(driver, pattern)


def file_pattern(dsn: str, base_dir: Path, tenants: frozenset[str] = frozenset()) -> str:
    """The absolute path pattern a file engine's ``db_dsn`` stands for: a pattern with
    {tenant}, a directory of ``<tenant>.db`` files, or one file (``./data/app.db``) when
    ``tenants`` holds at most one tenant. Raises ValueError for anything else, and for one
    file that several tenants would share."""
    text = dsn.removeprefix("file:")  # Gojinn prefixes file: itself; either spelling is fine
    if text.startswith(":memory:") or "?" in text:
        raise ValueError(
            f"db_dsn '{dsn}' is not supported for a file database: give a directory "
            "(db_dsn ./data/sql) or a file pattern with {tenant} (db_dsn ./data/{tenant}.db)"
        )
    unknown = [found for found in _PLACEHOLDER.findall(text) if found != TENANT_PLACEHOLDER]
    if unknown:
        raise ValueError(f"unknown placeholder {unknown[0]} in db_dsn: only {{tenant}} is replaced")
    try:
        path = str(resolve(base_dir, text))
    except PathProblem as problem:
        raise ValueError(f"invalid db_dsn file path: {problem}") from None
    if TENANT_PLACEHOLDER in text:
        return path
    if text.endswith(_DATABASE_SUFFIXES):
        if len(tenants) <= 1:
            return path  # one tenant: the file is its own
        names = ", ".join(sorted(tenants))
        raise ValueError(
            f"db_dsn '{dsn}' names one database file, which the tenants of this function's "
            f"API keys ({names}) would share; pyjinn keeps one database per tenant: put "
            "{tenant} in the file name (db_dsn ./data/{tenant}.db) or give a directory "
            "(db_dsn ./data/sql)"
        )
    return os.path.join(path, f"{TENANT_PLACEHOLDER}.db")


def resolve_blob_storage(
    settings: StorageSettings,
    lines: dict[str, Directive],
    *,
    data_dir: Path,
    report: Diagnostics,
) -> BlobStorage | None:
    """The object storage the merged ``settings`` describe; None when there is none (or an
    error was reported)."""
    connection = [name for name in _S3_CONNECTION if getattr(settings, name) is not None]
    if settings.s3_bucket is None:
        if connection:
            report.error(
                lines[connection[0]],
                f"{connection[0]} needs an s3_bucket next to it, like: s3_bucket media",
            )
        return None
    if (settings.s3_access_key is None) != (settings.s3_secret_key is None):
        given = "s3_access_key" if settings.s3_access_key is not None else "s3_secret_key"
        report.error(lines[given], "s3_access_key and s3_secret_key must be given together")
        return None
    if not connection:
        return BlobStorage(settings.s3_bucket, root=data_dir / "blobs" / settings.s3_bucket)
    try:
        require("boto3")
    except MissingExtra as missing:
        report.error(lines[connection[0]], str(missing))
        return None
    return BlobStorage(
        settings.s3_bucket,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
    )


def describe_database(database: Database | None, base_dir: Path | str) -> dict[str, Any] | None:
    """A database for rendering: file patterns relative to ``base_dir``, connection strings
    without their password."""
    if database is None:
        return None
    if database.is_file:
        location = Path(os.path.relpath(database.location, os.path.abspath(base_dir))).as_posix()
    else:
        location = redact_dsn(database.location)
    return {"driver": database.driver, "location": location}


def redact_dsn(dsn: str) -> str:
    """A PostgreSQL connection string as key=value pairs, with any password hidden; raises
    ValueError if ``dsn`` is not one."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(dsn)
    except ProgrammingError:
        raise ValueError("not a PostgreSQL connection string") from None
    if parts.get("password"):
        parts["password"] = "(hidden)"
    return make_conninfo(**{key: str(value) for key, value in parts.items()})


def describe_blob_storage(
    storage: BlobStorage | None, base_dir: Path | str
) -> dict[str, Any] | None:
    """Object storage for rendering, without credentials."""
    if storage is None:
        return None
    if not storage.is_s3:
        assert storage.root is not None
        root = Path(os.path.relpath(storage.root, os.path.abspath(base_dir))).as_posix()
        return {"bucket": storage.bucket, "filesystem": root}
    return {
        "bucket": storage.bucket,
        "endpoint": storage.endpoint,
        "region": storage.region,
        "credentials": "(set)" if storage.access_key else None,
    }


def _check_endpoint(directive: Directive, text: str, report: Diagnostics) -> str | None:
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed [ of an IPv6 host, for one
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.error(
            directive,
            f"invalid s3_endpoint '{text}': expected http:// or https:// and a host, "
            "like http://127.0.0.1:8333",
        )
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        report.error(
            directive,
            f"invalid s3_endpoint '{text}': give only the scheme, host and port (buckets are "
            "addressed by path)",
        )
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        report.error(directive, f"invalid s3_endpoint '{text}': the port is not a number 1-65535")
        return None
    return text.rstrip("/")


def _is_bucket_name(text: str) -> bool:
    return bool(_BUCKET.fullmatch(text)) and ".." not in text


def _is_postgres_dsn(dsn: str) -> bool:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except ProgrammingError:
        return False
    return True
