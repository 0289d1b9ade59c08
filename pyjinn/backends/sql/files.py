"""What the file engines (SQLite, libSQL) share: a database file per tenant, and idle
connections kept for reuse.

Opening a connection costs more than a point query, so connections are kept: per database file
and mode (read-only or read-write), at most ``per_file`` idle ones, and at most ``max_idle`` in
all, the least recently used file's closed first. A connection serves one call at a time; it
moves between guest threads, never shared by two at once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from pyjinn.backends.sql import DatabaseUnavailable

TENANT = "{tenant}"
C = TypeVar("C")

Key = tuple[str, bool]  # (tenant, writable)


def database_path(pattern: str, tenant: str) -> str:
    """The tenant's database file; its directory is created (0700) if missing."""
    path = pattern.replace(TENANT, tenant)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as error:
        raise DatabaseUnavailable(f"cannot create {directory}: {error.strerror}") from None
    return path


class IdleConnections(Generic[C]):
    """Idle connections by (tenant, writable), bounded, least recently used closed first."""

    def __init__(
        self, close: Callable[[C], None], *, per_file: int = 8, max_idle: int = 256
    ) -> None:
        self._close = close
        self._per_file = per_file
        self._max_idle = max_idle
        self._idle: OrderedDict[Key, list[C]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()
        self._closed = False

    def take(self, key: Key) -> C | None:
        with self._lock:
            connections = self._idle.get(key)
            if not connections:
                return None
            self._count -= 1
            self._idle.move_to_end(key)
            return connections.pop()

    def give_back(self, key: Key, connection: C) -> None:
        """Keep ``connection`` for reuse, or close it when the pool is full or closed."""
        evicted: list[C] = []
        with self._lock:
            connections = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if self._closed or len(connections) >= self._per_file:
                evicted.append(connection)
            else:
                connections.append(connection)
                self._count += 1
            while self._count > self._max_idle:
                oldest_key, oldest = next(iter(self._idle.items()))
                if not oldest:
                    del self._idle[oldest_key]
                    continue
                evicted.append(oldest.pop(0))
                self._count -= 1
        for stale in evicted:
            self._close(stale)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = [c for group in self._idle.values() for c in group]
            self._idle.clear()
            self._count = 0
        for connection in connections:
            self._close(connection)
