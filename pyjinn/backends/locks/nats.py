"""Locks on NATS JetStream key-value: one bucket per tenant, on the key-value store's connection.

Tenant ``acme``'s locks live in the KV bucket ``pyjinnlocks_acme`` (no key-value bucket can have
that name: theirs are ``pyjinn_<tenant>``), one key per lock, whose value is the holder's token.
Every change is a publish the server accepts only if the key's last revision is the one the
caller saw (``Nats-Expected-Last-Subject-Sequence``), so two contenders, in two processes or on
two nodes sharing the NATS cluster, can never both win:

- **acquire** publishes the token with the lock's time to live as a per-message TTL
  (``Nats-TTL``, nats-server 2.11 and later) expecting no revision. If the key has one, the
  last message is read: a delete marker (a released lock) is replaced by expecting its
  revision; a live token means the lock is held. When the TTL runs out the server removes the
  message, and the lock is free again without anyone releasing it.
- **release** reads the last message and, if it holds the caller's token, publishes a delete
  marker expecting that revision: a lock whose TTL ran out and was taken by someone else
  meanwhile is never released by its former holder. The marker has a TTL of its own, so
  released locks leave nothing behind.

Reads go to the stream's leader (the message-get API, not direct gets), and the conditional
publish decides every race in any case.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass

import nats.js.errors
from nats.aio.msg import Msg

from pyjinn.backends.kv.nats import Connection, NatsKeyValueStore, api_answer
from pyjinn.backends.locks import Release

__all__ = ["LOCK_BUCKET_PREFIX", "NatsLockStore"]

#: Locks of tenant ``t`` are in bucket ``LOCK_BUCKET_PREFIX + t``.
LOCK_BUCKET_PREFIX = "pyjinnlocks_"
#: Seconds a released lock's delete marker stays before the server removes it.
MARKER_TTL_SECONDS = 60
# JetStream API error codes (nats-server errors.json).
_WRONG_LAST_SEQUENCE = 10071
_NO_MESSAGE = 10037
# Conditional publishes one acquire may try (a released lock, raced for, may take two).
_ATTEMPTS = 4
_DELETED = frozenset({b"DEL", b"PURGE"})


@dataclass(frozen=True, slots=True)
class _Last:
    """The last message of a lock's key: its revision, value, and whether it is a marker."""

    sequence: int
    value: bytes
    deleted: bool


class NatsLockStore:
    """A :class:`~pyjinn.backends.locks.LockStore` on the connection of ``store``."""

    def __init__(self, store: NatsKeyValueStore) -> None:
        self._store = store

    def __repr__(self) -> str:
        return f"NatsLockStore({self._store!r})"

    def acquire(self, tenant: str, name: str, token: str, ttl: int, *, timeout: float) -> bool:
        async def work(connection: Connection) -> bool:
            return await self._acquire(connection, tenant, name, token.encode(), ttl)

        return self._store.run("lock", timeout, work)

    def release(self, tenant: str, name: str, token: str, *, timeout: float) -> Release:
        async def work(connection: Connection) -> Release:
            return await self._release(connection, tenant, name, token.encode())

        return self._store.run("unlock", timeout, work)

    async def _acquire(
        self, connection: Connection, tenant: str, name: str, token: bytes, ttl: int
    ) -> bool:
        bucket = LOCK_BUCKET_PREFIX + tenant
        await self._store.ensure_bucket(connection, bucket)
        subject = f"$KV.{bucket}.{name}"
        expected = 0
        for _ in range(_ATTEMPTS):
            headers = {
                "Nats-TTL": f"{ttl}s",
                "Nats-Expected-Last-Subject-Sequence": str(expected),
            }
            if _published(await connection.request(subject, token, headers)):
                return True
            last = await _last_message(connection, bucket, subject)
            if last is None:
                expected = 0  # its TTL ran out since
            elif last.deleted:
                expected = last.sequence  # released: replace the marker
            else:
                # Held; by this very token when a publish whose reply was lost is retried.
                return hmac.compare_digest(last.value, token)
        return False

    async def _release(
        self, connection: Connection, tenant: str, name: str, token: bytes
    ) -> Release:
        bucket = LOCK_BUCKET_PREFIX + tenant
        await self._store.ensure_bucket(connection, bucket)
        subject = f"$KV.{bucket}.{name}"
        last = await _last_message(connection, bucket, subject)
        if last is None or last.deleted:
            return Release.NOT_HELD
        if not hmac.compare_digest(last.value, token):
            return Release.OTHER_HOLDER
        headers = {
            "KV-Operation": "DEL",
            "Nats-Expected-Last-Subject-Sequence": str(last.sequence),
            "Nats-TTL": f"{MARKER_TTL_SECONDS}s",
        }
        if _published(await connection.request(subject, b"", headers)):
            return Release.RELEASED
        return Release.NOT_HELD  # it expired and changed hands between the read and now


def _published(reply: Msg) -> bool:
    """True for an acknowledged publish, False for one refused for its expected revision;
    raises for any other refusal."""
    try:
        api_answer(reply)
    except nats.js.errors.APIError as error:
        if error.err_code == _WRONG_LAST_SEQUENCE:
            return False
        raise
    return True


async def _last_message(connection: Connection, bucket: str, subject: str) -> _Last | None:
    request = json.dumps({"last_by_subj": subject}).encode()
    reply = await connection.request(f"$JS.API.STREAM.MSG.GET.KV_{bucket}", request)
    try:
        answer = api_answer(reply)
    except nats.js.errors.APIError as error:
        if error.err_code == _NO_MESSAGE:
            return None
        raise
    message = answer["message"]
    headers = base64.b64decode(message.get("hdrs") or "")
    return _Last(
        int(message["seq"]),
        base64.b64decode(message.get("data") or ""),
        _is_marker(headers),
    )


def _is_marker(headers: bytes) -> bool:
    """Whether raw NATS headers (``NATS/1.0\\r\\nName: value\\r\\n...``) mark a deletion."""
    for line in headers.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"kv-operation" and value.strip() in _DELETED:
            return True
        if name == b"nats-marker-reason":
            return True
    return False
