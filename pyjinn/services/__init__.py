"""Connections to the services behind the capabilities, shared by every runtime of a process.

A process (a worker, or an application embedding pyjinn) owns one ``Services``; reloads build
new runtimes on the same connections. Backends connect lazily, so a process whose functions
never use a capability never opens its connection. NATS is the broker of every configuration
(key-value storage, and the job queues any function may be invoked through): when no external
server is configured, pyjinn runs one itself (``pyjinn.services.nats``).

SQL databases and object stores are made per configuration (driver and data source, bucket
and endpoint), once per process, and shared by every function and runtime that names the same
one. They need no start-up: SQLite, libSQL and the filesystem store are files, and PostgreSQL
and S3 are reached on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyjinn.ai.budget import TokenBudgets
from pyjinn.backends.blobs import BlobStore
from pyjinn.backends.kv import KeyValueStore
from pyjinn.backends.locks import LockStore
from pyjinn.backends.sql import SqlDatabase
from pyjinn.buckets import BucketTable
from pyjinn.config.model import BlobStorage, Config, Database, JobOptions

if TYPE_CHECKING:
    from pyjinn.jobs.service import Jobs
    from pyjinn.services.nats import EmbeddedNats


@dataclass(frozen=True)
class NatsConnection:
    """Where a NATS server or cluster is, and how to log in (the password is never shown)."""

    urls: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MqttEndpoint:
    """An MQTT broker to connect to: the embedded nats-server's listener, or ``mqtt_broker``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False


def needs_embedded_mqtt(config: Config) -> bool:
    """Whether an MQTT trigger of ``config`` uses the embedded nats-server's MQTT listener."""
    return any(trigger.broker.url is None for trigger in config.all_triggers().mqtt)


def needs_key_value(config: Config) -> bool:
    """Whether any function of ``config`` may use key-value storage (its keys, or locks, which
    live in key-value buckets)."""
    return any(
        spec.permissions.kv_read or spec.permissions.kv_write or spec.permissions.lock
        for spec in config.functions()
    )


def configured_nats(config: Config) -> NatsConnection | None:
    """The NATS server or cluster named in the global options, if any."""
    options = config.options
    if not options.nats_urls:
        return None
    return NatsConnection(options.nats_urls, options.nats_user, options.nats_password)


def unavailable_for(config: Config, services: Services) -> str | None:
    """Why ``config`` cannot run on ``services`` (connections are made at start-up), or None."""
    wanted = configured_nats(config)
    if wanted is not None and wanted != services.nats:
        return "the NATS connection settings changed; restart pyjinn to use them"
    if services.nats is None and needs_key_value(config):
        return (
            "a function now uses key-value storage, which was not running at start-up; "
            "restart pyjinn to start it"
        )
    if needs_embedded_mqtt(config) and services.embedded_mqtt is None:
        return (
            "an MQTT trigger now uses the embedded nats-server's MQTT listener, which was not "
            "started; restart pyjinn to start it (or name a broker with mqtt_broker)"
        )
    if config.options.jobs != services.job_options:
        return (
            "the job options changed (job_retention, max_queued_jobs, cluster_replicas); "
            "restart pyjinn to apply them"
        )
    return None


def start_services(config: Config, *, shared: bool = False) -> tuple[Services, EmbeddedNats | None]:
    """The services ``config`` needs: the configured NATS server, or an embedded one started
    now (under ``data_dir/nats``). The caller stops the embedded server when it is done.
    With ``shared``, a process that finds the embedded server already run by another process
    (an ASGI app under several workers) connects to that one, and gets no server to stop."""
    nats = configured_nats(config)
    embedded = None
    mqtt = None
    if nats is None:
        from pyjinn.services.nats import EmbeddedNats, attach_or_start

        store = config.options.data_dir / "nats"
        listen_mqtt = needs_embedded_mqtt(config)
        if shared:
            info, embedded = attach_or_start(store, mqtt=listen_mqtt)
        else:
            embedded = EmbeddedNats(store, mqtt=listen_mqtt)
            info = embedded.start()
        nats = NatsConnection((info.url,), info.user, info.password)
        if info.mqtt_port is not None:
            mqtt = MqttEndpoint("127.0.0.1", info.mqtt_port, info.user, info.password)
    services = Services(nats, config.options.jobs)
    services.embedded_mqtt = mqtt
    # Made now, before ``pyjinn up`` forks its workers, so they share it (see rate_buckets).
    services.rate_buckets  # noqa: B018
    return services, embedded


class Services:
    """The backends of one process."""

    def __init__(
        self, nats: NatsConnection | None = None, job_options: JobOptions | None = None
    ) -> None:
        self.nats = nats
        self.job_options = job_options or JobOptions()
        # The embedded nats-server's MQTT listener, when an MQTT trigger needed it at start-up.
        self.embedded_mqtt: MqttEndpoint | None = None
        self._jobs: Jobs | None = None
        self._kv: KeyValueStore | None = None
        self._locks: LockStore | None = None
        self._databases: dict[tuple[Database, int], SqlDatabase] = {}
        self._blob_stores: dict[BlobStorage, BlobStore] = {}
        self._lock = threading.Lock()
        # Tenants' model token use in this process: kept across reloads, like connections.
        self.token_budgets = TokenBudgets()
        self._rate_buckets: BucketTable | None = None

    def kv_store(self) -> KeyValueStore | None:
        """The key-value store, or None when no NATS server is configured."""
        if self.nats is None:
            return None
        with self._lock:
            if self._kv is None:
                from pyjinn.backends.kv.nats import NatsKeyValueStore

                self._kv = NatsKeyValueStore(
                    list(self.nats.urls),
                    user=self.nats.user,
                    password=self.nats.password,
                    replicas=self.job_options.replicas,
                )
            return self._kv

    def lock_store(self) -> LockStore | None:
        """The lock store (on the key-value store's connection), or None without NATS."""
        store = self.kv_store()
        if store is None:
            return None
        from pyjinn.backends.kv.nats import NatsKeyValueStore
        from pyjinn.backends.locks.nats import NatsLockStore

        assert isinstance(store, NatsKeyValueStore)
        with self._lock:
            if self._locks is None:
                self._locks = NatsLockStore(store)
            return self._locks

    @property
    def jobs(self) -> Jobs | None:
        """The job queues of this process, or None when no NATS server is configured."""
        if self.nats is None:
            return None
        with self._lock:
            if self._jobs is None:
                from pyjinn.jobs.service import Jobs

                self._jobs = Jobs(self.nats, self.job_options)
            return self._jobs

    @property
    def rate_buckets(self) -> BucketTable:
        """The token buckets of ``rate_limit``, made on first use. Processes forked after it was
        made share it: ``start_services`` makes it, so every worker of ``pyjinn up`` (and every
        reload, which may add a limit) counts against the same buckets."""
        with self._lock:
            if self._rate_buckets is None:
                self._rate_buckets = BucketTable()
            return self._rate_buckets

    def sql_database(self, database: Database, *, pool_size: int) -> SqlDatabase:
        """The backend of ``database``, made on first request (it connects on first use)."""
        key = (database, pool_size)
        with self._lock:
            backend = self._databases.get(key)
            if backend is None:
                backend = self._databases[key] = _make_database(database, pool_size)
            return backend

    def blob_store(self, storage: BlobStorage) -> BlobStore:
        """The backend of ``storage``, made on first request."""
        with self._lock:
            store = self._blob_stores.get(storage)
            if store is None:
                store = self._blob_stores[storage] = _make_blob_store(storage)
            return store

    def close(self) -> None:
        with self._lock:
            if self._kv is not None:
                self._kv.close()
                self._kv = None
                self._locks = None  # it ran on that store's connection
            backends: list[SqlDatabase | BlobStore] = [
                *self._databases.values(),
                *self._blob_stores.values(),
            ]
            self._databases.clear()
            self._blob_stores.clear()
        for backend in backends:
            backend.close()


def _make_database(database: Database, pool_size: int) -> SqlDatabase:
    if database.driver == "sqlite":
        from pyjinn.backends.sql.sqlite import SqliteDatabase

        return SqliteDatabase(database.location)
    if database.driver == "libsql":
        from pyjinn.backends.sql.libsql import LibsqlDatabase

        return LibsqlDatabase(database.location)
    from pyjinn.backends.sql.postgres import PostgresDatabase

    return PostgresDatabase(database.location, pool_size=pool_size)


def _make_blob_store(storage: BlobStorage) -> BlobStore:
    if storage.root is not None:
        from pyjinn.backends.blobs.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(storage.root)
    from pyjinn.backends.blobs.s3 import S3BlobStore

    return S3BlobStore(storage)
