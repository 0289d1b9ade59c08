"""Services make one backend per database or object store configuration, shared by every
function and runtime of the process, and close them all."""

from __future__ import annotations

from pathlib import Path

from pyjinn.backends.blobs.filesystem import FilesystemBlobStore
from pyjinn.backends.blobs.s3 import S3BlobStore
from pyjinn.backends.sql.libsql import LibsqlDatabase
from pyjinn.backends.sql.postgres import PostgresDatabase
from pyjinn.backends.sql.sqlite import SqliteDatabase
from pyjinn.config.model import BlobStorage, Database
from pyjinn.services import Services


def test_each_configuration_gets_one_backend_of_its_driver(tmp_path: Path) -> None:
    services = Services()
    sqlite = Database("sqlite", str(tmp_path / "{tenant}.db"))
    assert isinstance(services.sql_database(sqlite, pool_size=4), SqliteDatabase)
    assert services.sql_database(sqlite, pool_size=4) is services.sql_database(
        Database("sqlite", str(tmp_path / "{tenant}.db")), pool_size=4
    )
    libsql = Database("libsql", str(tmp_path / "l" / "{tenant}.db"))
    assert isinstance(services.sql_database(libsql, pool_size=4), LibsqlDatabase)
    # PostgreSQL connects on first use, so making its backend needs no server.
    postgres = Database("postgres", "postgresql://app@127.0.0.1:1/app")
    assert isinstance(services.sql_database(postgres, pool_size=4), PostgresDatabase)
    assert services.sql_database(postgres, pool_size=4) is not services.sql_database(
        postgres, pool_size=5
    )
    services.close()


def test_object_stores_are_shared_by_bucket_and_endpoint(tmp_path: Path) -> None:
    services = Services()
    embedded = BlobStorage("media", root=tmp_path / "blobs" / "media")
    assert isinstance(services.blob_store(embedded), FilesystemBlobStore)
    assert services.blob_store(embedded) is services.blob_store(
        BlobStorage("media", root=tmp_path / "blobs" / "media")
    )
    s3 = BlobStorage("media", endpoint="http://127.0.0.1:1", access_key="a", secret_key="b")
    assert isinstance(services.blob_store(s3), S3BlobStore)
    assert services.blob_store(s3) is not services.blob_store(embedded)
    services.close()
