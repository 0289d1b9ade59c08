"""Connections to the services behind the capabilities, shared by every runtime of a process.

A process (a worker, or an application embedding pyjinn) owns one ``Services``; reloads build
new runtimes on the same connections. Backends connect lazily, so a process whose functions
never use a capability never opens its connection. When no external NATS server is configured,
pyjinn runs one itself (``pyjinn.services.nats``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pyjinn.backends.kv import KeyValueStore


@dataclass(frozen=True)
class NatsConnection:
    """Where a NATS server or cluster is, and how to log in (the password is never shown)."""

    urls: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)


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
