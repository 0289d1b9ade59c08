"""Connections to the services behind the capabilities, shared by every runtime of a process.

A process (a worker, or an application embedding pyjinn) owns one ``Services``; reloads build
new runtimes on the same connections. Backends connect lazily, so a process whose functions
never use a capability never opens its connection. When no external NATS server is configured,
pyjinn runs one itself (``pyjinn.services.nats``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyjinn.backends.kv import KeyValueStore
from pyjinn.config.model import Config

if TYPE_CHECKING:
    from pyjinn.services.nats import EmbeddedNats


@dataclass(frozen=True)
class NatsConnection:
    """Where a NATS server or cluster is, and how to log in (the password is never shown)."""

    urls: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)


def needs_key_value(config: Config) -> bool:
    """Whether any function of ``config`` may use key-value storage."""
    return any(spec.permissions.kv_read or spec.permissions.kv_write for spec in config.functions())


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
    if needs_key_value(config) and services.nats is None:
        return (
            "a function now uses key-value storage, which was not running at start-up; "
            "restart pyjinn to start it"
        )
    return None


def start_services(config: Config) -> tuple[Services, EmbeddedNats | None]:
    """The services ``config`` needs: the configured NATS server, or an embedded one started
    now (under ``data_dir/nats``) when a function needs key-value storage. The caller stops
    the embedded server when it is done."""
    nats = configured_nats(config)
    embedded = None
    if nats is None and needs_key_value(config):
        from pyjinn.services.nats import EmbeddedNats

        embedded = EmbeddedNats(config.options.data_dir / "nats")
        info = embedded.start()
        nats = NatsConnection((info.url,), info.user, info.password)
    return Services(nats), embedded


class Services:
    """The backends of one process."""

    def __init__(self, nats: NatsConnection | None = None) -> None:
        self.nats = nats
        self._kv: KeyValueStore | None = None
        self._lock = threading.Lock()

    def kv_store(self) -> KeyValueStore | None:
        """The key-value store, or None when no NATS server is configured."""
        if self.nats is None:
            return None
        with self._lock:
            if self._kv is None:
                from pyjinn.backends.kv.nats import NatsKeyValueStore

                self._kv = NatsKeyValueStore(
                    list(self.nats.urls), user=self.nats.user, password=self.nats.password
                )
            return self._kv

    def close(self) -> None:
        with self._lock:
            if self._kv is not None:
                self._kv.close()
                self._kv = None
