"""A lease on NATS: which one process, of every process of every node, does a thing alone.

A key in the KV bucket ``PYJINN-LEASES`` names the holder. A process takes the lease by
creating the key (which fails while another holds it), keeps it by rewriting the key on the
revision it wrote last, and gives it up by deleting the key. The bucket's entries expire after
``TTL`` seconds, so the lease of a process that died without giving it up passes to another
within ``TTL`` plus one ``RENEW`` period. Two holders at once would need a renewal to be late
by the whole TTL; the MQTT trigger, its one user, stays correct even then (the broker allows
one connection per client id), it only reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

log = logging.getLogger("pyjinn.triggers")

BUCKET = "PYJINN-LEASES"
TTL = 10.0
RENEW = 3.0


class Lease:
    """The lease called ``name``; :meth:`hold` waits until this process holds it."""

    def __init__(self, js: JetStreamContext, name: str, *, replicas: int = 1) -> None:
        self._js = js
        self.name = name
        self._replicas = replicas
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}".encode()
        self._revision: int | None = None
        self._bucket: KeyValue | None = None

    @property
    def is_held(self) -> bool:
        return self._revision is not None

    async def hold(self, stopping: asyncio.Event) -> bool:
        """Wait until the lease is ours (True) or ``stopping`` is set (False)."""
        while not stopping.is_set():
            if await self._try_take():
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RENEW)
        return False

    async def keep(self, stopping: asyncio.Event) -> None:
        """Renew the lease until it is lost (returns) or ``stopping`` is set (returns)."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RENEW)
            if stopping.is_set() or not await self._renew():
                return

    async def release(self) -> None:
        """Give the lease up now, so another process takes it without waiting for the TTL."""
        if self._revision is None:
            return
        self._revision = None
        with contextlib.suppress(Exception):
            bucket = await self._open()
            entry = await bucket.get(self.name)
            if entry.value == self._owner:
                await bucket.delete(self.name, last=entry.revision)

    async def _try_take(self) -> bool:
        try:
            bucket = await self._open()
            self._revision = await bucket.create(self.name, self._owner)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        except (nats.errors.Error, OSError, TimeoutError) as error:
            log.warning("Cannot reach NATS for the lease %s: %s; trying again.", self.name, error)
            return False
        log.info("This process now holds the lease %s.", self.name)
        return True

    async def _renew(self) -> bool:
        assert self._revision is not None
        try:
            bucket = await self._open()
            self._revision = await bucket.update(self.name, self._owner, last=self._revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            log.warning("Lost the lease %s to another process.", self.name)
            self._revision = None
            return False
        except (nats.errors.Error, OSError, TimeoutError) as error:
            # NATS cannot tell whether another process took over: step down to be safe.
            log.warning("Cannot renew the lease %s: %s.", self.name, error)
            self._revision = None
            return False
        return True

    async def _open(self) -> KeyValue:
        if self._bucket is None:
            try:
                self._bucket = await self._js.key_value(BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._bucket = await self._js.create_key_value(
                    KeyValueConfig(
                        bucket=BUCKET,
                        history=1,
                        ttl=TTL,
                        storage=StorageType.FILE,
                        replicas=self._replicas,
                    )
                )
        return self._bucket
