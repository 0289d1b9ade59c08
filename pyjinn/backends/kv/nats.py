"""Key-value on NATS JetStream: one KV bucket per tenant, a few connections per process.

Guest threads call synchronously, and however many there are, a process holds at most
``connections + 1`` connections to NATS:

- Reads take a fast path (:mod:`pyjinn.backends.kv.direct`): a JetStream direct get over one of
  at most ``connections`` plain blocking sockets, checked out for the one request and reply.
- Everything else (writes, listings, creating buckets, reads the fast path hands back) runs on
  one nats-py connection, on one event loop in a background thread
  (:mod:`pyjinn.backends.kv.background`). The calling thread hands its request to that loop and
  waits; nats-py multiplexes the requests of every thread on the connection. The hand-over costs
  a thread round trip on each such call (a set from one thread: ~70 µs on a loop of its own,
  ~100 µs handed over), not on reads; from many threads at once one loop does better (16
  threads setting keys: ~10k/s with a loop per thread, ~15k/s on the shared one).

The loop runs between calls, so a connection the server closes (a restarted nats-server) is
noticed at once; the next call connects again within its own time budget, and a request cut
off by the close is retried once on the new connection. A forked child never uses a connection
of its parent: it closes its copies and connects anew on first use.

Layout on the server: tenant ``acme`` keeps its keys in the bucket ``pyjinn_acme`` (stream
``KV_pyjinn_acme``), created on first use with history 1 and direct get allowed, so a get is
one request to ``$JS.API.DIRECT.GET`` that any replica may answer. With more than one replica
such a read may briefly lag a write made through another server (NATS's documented trade-off
for direct gets).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import random
import stat
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.kv.background import LoopClosed, LoopThread
from pyjinn.backends.kv.direct import DirectReader, Fallback, TimedOut

__all__ = ["BUCKET_PREFIX", "DEFAULT_READ_CONNECTIONS", "NatsKeyValueStore"]

log = logging.getLogger(__name__)

#: Bucket of tenant ``t`` is ``BUCKET_PREFIX + t``.
BUCKET_PREFIX = "pyjinn_"

#: Sockets for direct gets per process. Python runs one thread at a time and a get holds the
#: interpreter for much of its round trip, so a few sockets in flight keep a process busy.
#: Measured here, 16 threads each reading in a loop: 4 sockets serve ~24k gets/s, as many as
#: 16 sockets (one per thread) did, with a lower median latency (~125 µs against ~410 µs);
#: 2 sockets serve ~16k/s. One thread: ~33 µs a get whatever the number.
DEFAULT_READ_CONNECTIONS = 4

_T = TypeVar("_T")

# How long closing the connection and stopping the loop may take.
_CLOSE_WAIT = 1.0
# How long a publish waits for nats-py to flush its queue once 2 MiB are queued, before it
# queues its own message anyway. nats-py never ends that wait when the connection dies with
# writes queued; this bounds it, and the call then finds its reply failed and retries.
_FLUSH_WAIT = 1.0
# A listing's consumer is removed explicitly; this only cleans up after a listing cut short.
_LISTING_CONSUMER_IDLE_NS = 10_000_000_000
_DELETED_OPERATIONS = frozenset({"DEL", "PURGE"})
# JetStream API error codes (nats-server errors.json).
_STREAM_NAME_IN_USE = 10058
_MESSAGE_TOO_LARGE = 10054


class _ConnectionLost(Exception):
    """The connection closed before the answer arrived; the request may be retried."""


class _NoResponders(Exception):
    """Nothing on the server answers this subject: JetStream is off or the stream is gone."""


class NatsKeyValueStore:
    """A :class:`~pyjinn.backends.kv.KeyValueStore` on NATS JetStream KV, safe for many threads.

    ``servers`` are NATS URLs (``nats://host:port``), tried in random order whenever the store
    connects. ``user``/``password`` or ``token`` authenticate; they never appear in messages or
    logs. ``replicas`` is the replication factor of the buckets this store creates (1 for a
    single server, 3 for a typical cluster). ``connections`` bounds the sockets for reads; with
    the one nats-py connection the store holds at most ``connections + 1`` connections,
    whatever the number of calling threads.

    Every call is bounded by its ``timeout`` (connecting, and waiting for a free connection,
    included) and raises :class:`~pyjinn.backends.kv.StoreUnavailable` when NATS cannot be
    reached, does not answer in time, or refuses the request; ``set`` raises ``ValueError`` for
    a value larger than the server's maximum payload. ``close()`` closes every connection.
    """

    def __init__(
        self,
        servers: list[str],
        *,
        user: str | None,
        password: str | None,
        token: str | None = None,
        replicas: int = 1,
        connections: int = DEFAULT_READ_CONNECTIONS,
    ) -> None:
        if not servers:
            raise ValueError("NatsKeyValueStore needs at least one server URL")
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        if connections < 1:
            raise ValueError(f"connections must be at least 1, not {connections}")
        self._servers = list(servers)
        self._credentials = {"user": user, "password": password, "token": token}
        self._replicas = replicas
        self._closed = False
        # Reads take a fast path of their own; see pyjinn.backends.kv.direct.
        self._direct = DirectReader(self._servers, self._credentials, size=connections)
        # Everything else: one connection, used only on the loop's thread.
        self._loop = LoopThread("pyjinn-kv")
        self._connection: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        _stores.add(self)

    def __repr__(self) -> str:
        return f"NatsKeyValueStore({_describe(self._servers)})"

    # -- the KeyValueStore protocol ------------------------------------------------------------

    def get(self, tenant: str, key: str, *, timeout: float) -> bytes | None:
        """The value of ``key`` in ``tenant``'s bucket, or None when it is missing or deleted."""
        started = time.monotonic()
        if not self._closed:
            try:
                return self._direct.get(BUCKET_PREFIX + tenant, key, timeout)
            except TimedOut as error:
                raise StoreUnavailable(
                    str(error) or f"NATS did not complete the get within {timeout:g} s"
                ) from None
            except Fallback:
                pass
        return self._call(
            "get", timeout, started, lambda connection: self._get(connection, tenant, key)
        )

    def set(self, tenant: str, key: str, value: bytes, *, timeout: float) -> None:
        """Create or replace ``key``; ``ValueError`` when ``value`` exceeds the max payload."""
        self._call(
            "set",
            timeout,
            time.monotonic(),
            lambda connection: self._set(connection, tenant, key, value),
        )

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        """Remove ``key`` (a KV delete marker); removing a missing key is not an error."""
        self._call(
            "delete",
            timeout,
            time.monotonic(),
            lambda connection: self._delete(connection, tenant, key),
        )

    def keys(self, tenant: str, prefix: str, *, timeout: float) -> list[str]:
        """Every existing key of ``tenant`` that starts with ``prefix``, sorted."""
        return self._call(
            "list",
            timeout,
            time.monotonic(),
            lambda connection: self._keys(connection, tenant, prefix),
        )

    # -- for backends built on this store's connection (pyjinn.backends.locks.nats) ------------

    def run(
        self, operation: str, timeout: float, work: Callable[[Connection], Awaitable[_T]]
    ) -> _T:
        """Run ``work`` on the store's one connection, on its loop, within ``timeout`` seconds:
        connecting first if needed, retried once on a fresh connection when the connection is
        lost, its failures raised as :class:`~pyjinn.backends.kv.StoreUnavailable`."""
        return self._call(operation, timeout, time.monotonic(), work)

    async def ensure_bucket(self, connection: Connection, bucket: str) -> None:
        """Make sure KV bucket ``bucket`` exists on ``connection``'s server (created as this
        store creates its own: history 1, direct gets, per-message TTLs allowed)."""
        if bucket not in connection.buckets:
            await self._open_bucket(connection, bucket)

    def close(self) -> None:
        """Close every connection and stop the loop; later calls raise StoreUnavailable.

        A call in flight ends with StoreUnavailable. Safe to call from any thread, an event
        loop's included, and more than once.
        """
        self._closed = True
        self._direct.close()
        self._loop.close(self._disconnect, _CLOSE_WAIT)

    # -- one call, run on the loop --------------------------------------------------------------

    def _call(
        self,
        operation: str,
        timeout: float,
        started: float,
        work: Callable[[_Connection], Awaitable[_T]],
    ) -> _T:
        closed = f"cannot {operation}: the NATS key-value store is closed"
        if self._closed:
            raise StoreUnavailable(closed)
        remaining = timeout - (time.monotonic() - started)
        try:
            return self._loop.run(lambda: self._run(operation, timeout, remaining, work), remaining)
        except TimeoutError:
            raise StoreUnavailable(
                f"NATS did not complete the {operation} within {timeout:g} s"
            ) from None
        except LoopClosed:
            raise StoreUnavailable(closed) from None

    async def _run(
        self,
        operation: str,
        timeout: float,
        remaining: float,
        work: Callable[[_Connection], Awaitable[_T]],
    ) -> _T:
        deadline = asyncio.get_running_loop().time() + remaining
        try:
            async with asyncio.timeout_at(deadline):
                for attempt in itertools.count():
                    connection = await self._connected(deadline)
                    try:
                        return await work(connection)
                    except (_ConnectionLost, RuntimeError) as error:
                        if isinstance(error, RuntimeError) and not _closed_transport(error):
                            raise
                        # The server went away (or closed an idle connection); one retry on a
                        # fresh connection, then give up.
                        if attempt:
                            raise _ConnectionLost from None
                raise AssertionError("unreachable")
        except TimeoutError:
            raise StoreUnavailable(
                f"NATS did not complete the {operation} within {timeout:g} s"
            ) from None
        except _ConnectionLost:
            raise StoreUnavailable(
                f"the connection to NATS closed during the {operation}"
            ) from None
        except _NoResponders as error:
            # A bucket deleted behind our back is created again by the next call.
            if self._connection is not None:
                self._connection.buckets.clear()
            raise StoreUnavailable(
                f"nothing on the NATS server answers the {operation} ({error}); "
                "is JetStream enabled?"
            ) from None
        except nats.js.errors.APIError as error:
            raise StoreUnavailable(
                f"NATS JetStream refused the {operation}: {error.description} "
                f"(code {error.err_code})"
            ) from None
        except (nats.errors.Error, OSError) as error:
            raise StoreUnavailable(f"the {operation} on NATS failed: {_explain(error)}") from None

    async def _connected(self, deadline: float) -> _Connection:
        """The open connection; the calls that find none share one attempt to connect."""
        connection = self._connection
        if connection is not None and connection.is_open:
            return connection
        if self._closed:  # a retry after close() dropped the connection: no new one
            raise _ConnectionLost
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._reconnect(deadline))
            self._connecting.add_done_callback(_consume_failure)
        return await asyncio.shield(self._connecting)

    async def _reconnect(self, deadline: float) -> _Connection:
        try:
            old, self._connection = self._connection, None
            if old is not None:
                await old.discard()
            self._connection = await _Connection.open(self._servers, self._credentials, deadline)
            return self._connection
        finally:
            self._connecting = None

    async def _disconnect(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.discard()

    def _forget_in_child(self) -> None:
        # See the module docstring: the parent keeps its connections; the child drops its
        # copies. The nats-py connection's socket is closed here; its other objects stay with
        # the loop, which the child never runs.
        self._direct.forget()
        if self._connection is not None:
            self._connection.close_descriptor()
        self._connection = None
        self._connecting = None
        self._loop.forget()

    # -- the operations, on a connected client ---------------------------------------------------

    async def _get(self, connection: _Connection, tenant: str, key: str) -> bytes | None:
        bucket = BUCKET_PREFIX + tenant
        direct = connection.buckets.get(bucket)
        if direct is None:
            direct = await self._open_bucket(connection, bucket)
        subject = f"$KV.{bucket}.{key}"
        if not direct:
            return await _get_from_stream_api(connection, bucket, subject)
        reply = await connection.request(f"$JS.API.DIRECT.GET.KV_{bucket}.{subject}")
        headers = reply.headers
        if headers:
            status = headers.get("Status")
            if status == "404":
                return None
            if status:
                description = headers.get("Description", "")
                raise StoreUnavailable(f"NATS answered the get with {status} {description}")
            if _is_deletion(headers):
                return None
        return reply.data

    async def _set(self, connection: _Connection, tenant: str, key: str, value: bytes) -> None:
        limit = connection.client.max_payload
        if len(value) > limit:
            raise ValueError(
                f"value of {len(value)} bytes is larger than the {limit} bytes NATS accepts"
            )
        bucket = BUCKET_PREFIX + tenant
        if bucket not in connection.buckets:
            await self._open_bucket(connection, bucket)
        reply = await connection.request(f"$KV.{bucket}.{key}", value)
        _check_published(reply)

    async def _delete(self, connection: _Connection, tenant: str, key: str) -> None:
        bucket = BUCKET_PREFIX + tenant
        if bucket not in connection.buckets:
            await self._open_bucket(connection, bucket)
        reply = await connection.request(f"$KV.{bucket}.{key}", headers={"KV-Operation": "DEL"})
        _check_published(reply)

    async def _keys(self, connection: _Connection, tenant: str, prefix: str) -> list[str]:
        bucket = BUCKET_PREFIX + tenant
        if bucket not in connection.buckets:
            await self._open_bucket(connection, bucket)
        keys = await _list_keys(connection, bucket, _whole_tokens(prefix))
        return sorted(key for key in set(keys) if key.startswith(prefix))

    async def _open_bucket(self, connection: _Connection, bucket: str) -> bool:
        """Make sure ``bucket`` exists (create it if not); True when it serves direct gets."""
        jetstream = connection.client.jetstream()
        stream = f"KV_{bucket}"
        try:
            try:
                info = await jetstream.stream_info(stream)
            except nats.js.errors.NotFoundError:
                try:
                    await jetstream.create_key_value(
                        bucket=bucket, history=1, direct=True, replicas=self._replicas
                    )
                except nats.js.errors.BadRequestError as error:
                    # Created meanwhile by another thread or process, with a config of its own.
                    if error.err_code != _STREAM_NAME_IN_USE:
                        raise
                info = await jetstream.stream_info(stream)
        except nats.js.errors.ServiceUnavailableError:
            raise _NoResponders(f"$JS.API.STREAM.INFO.{stream}") from None
        direct = bool(info.config.allow_direct)
        connection.buckets[bucket] = direct
        return direct


class _Connection:
    """The nats-py client, its reply inbox, and the buckets known to exist."""

    def __init__(self, client: Client) -> None:
        self.client = client
        # bucket name -> whether it serves direct gets; reset with every new connection.
        self.buckets: dict[str, bool] = {}
        self._inbox = client.new_inbox()
        self._replies: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        # What nats-py reported through its error callback (connection attempts, mostly).
        self.errors: list[Exception] = []
        # Listings waiting for their last key; failed with the replies when the connection ends.
        self.listings: set[asyncio.Future[None]] = set()
        # The socket's file descriptor and inode, for a forked child to close its copy.
        self.socket_file: tuple[int, int] | None = None

    @classmethod
    async def open(
        cls, servers: list[str], credentials: Mapping[str, str | None], deadline: float
    ) -> _Connection:
        """Connect to the first of ``servers`` (in random order) that accepts."""
        loop = asyncio.get_running_loop()
        failures: list[str] = []
        for server in random.sample(servers, len(servers)):
            client = Client()
            connection = cls(client)
            try:
                await client.connect(
                    servers=[server],
                    name=f"pyjinn-kv {os.getpid()}",
                    allow_reconnect=False,
                    # nats-py retries a refused connection max_reconnect_attempts + 1 times
                    # even without reconnects; make that two immediate tries, not a minute.
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    flush_timeout=_FLUSH_WAIT,
                    connect_timeout=max(1, math.ceil(deadline - loop.time())),
                    closed_cb=connection._on_closed,
                    error_cb=connection._on_error,
                    user=credentials["user"],
                    password=credentials["password"],
                    token=credentials["token"],
                )
                await client.subscribe(f"{connection._inbox}.*", cb=connection._on_reply)
            except (nats.errors.Error, OSError, TimeoutError) as error:
                await connection.discard()
                # "no servers available" hides the reason; the error callback saw it.
                cause: BaseException = error
                if isinstance(error, nats.errors.NoServersError) and connection.errors:
                    cause = connection.errors[0]
                failures.append(f"{_describe([server])}: {_explain(cause)}")
                continue
            except BaseException:
                await connection.discard()
                raise
            connection.socket_file = _socket_file_of(client)
            connection._watch_reader()
            log.debug("Connected to NATS at %s.", _describe([server]))
            return connection
        raise StoreUnavailable("cannot connect to NATS (" + "; ".join(failures) + ")")

    @property
    def is_open(self) -> bool:
        return self.client.is_connected

    async def request(
        self, subject: str, payload: bytes = b"", headers: dict[str, str] | None = None
    ) -> Msg:
        """Publish with a reply subject and wait for the one answer (the caller bounds time)."""
        if not self.client.is_connected:
            raise _ConnectionLost
        token = str(next(self._tokens))
        answer = asyncio.get_running_loop().create_future()
        self._replies[token] = answer
        try:
            await self.client.publish(
                subject, payload, reply=f"{self._inbox}.{token}", headers=headers
            )
            reply: Msg = await answer
        except nats.errors.ConnectionClosedError:
            raise _ConnectionLost from None
        finally:
            self._replies.pop(token, None)
        if reply.headers and reply.headers.get("Status") == "503" and not reply.data:
            raise _NoResponders(subject)
        return reply

    async def discard(self) -> None:
        """Close the client (quietly: it may be half-connected or closed already)."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), _CLOSE_WAIT)

    def close_descriptor(self) -> None:
        """In a forked child: close this process's copy of the socket, nothing else (the
        parent's connection stays open and in use).

        Only if the descriptor still is that socket: nats-py may have closed it since, and
        the number may now belong to another file (the pipe of a subprocess being started,
        say: ``subprocess`` runs fork hooks too).
        """
        if self.socket_file is None:
            return
        descriptor, inode = self.socket_file
        self.socket_file = None
        with contextlib.suppress(OSError):
            status = os.fstat(descriptor)
            if stat.S_ISSOCK(status.st_mode) and status.st_ino == inode:
                os.close(descriptor)

    async def _on_reply(self, message: Msg) -> None:
        answer = self._replies.pop(message.subject[len(self._inbox) + 1 :], None)
        if answer is not None and not answer.done():
            answer.set_result(message)

    async def _on_error(self, error: Exception) -> None:
        # Instead of nats-py's default, which logs every error at ERROR with a traceback: the
        # call that meets the error reports it.
        if len(self.errors) < 10:
            self.errors.append(error)
        log.debug("NATS client error: %s", _explain(error))

    async def _on_closed(self) -> None:
        self._fail_waiting()

    def _watch_reader(self) -> None:
        # nats-py does not always report that its connection ended: when the server resets a
        # connection while writes are still queued, its close stops at a write to the closed
        # uvloop transport (MagicStack/uvloop#506) before the closed callback runs. Its reader
        # task ends in every case, so that is watched too (a private attribute: nats-py is
        # pinned, and tests/backends/kv/test_nats.py kills a server under queued writes).
        reader = getattr(self.client, "_reading_task", None)
        if isinstance(reader, asyncio.Task):
            reader.add_done_callback(self._on_reader_done)

    def _on_reader_done(self, reader: asyncio.Task[None]) -> None:
        if not reader.cancelled() and (error := reader.exception()) is not None:
            log.debug("The NATS connection's reader stopped: %s", _explain(error))
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        # nats-py leaves waiting requests waiting when the connection drops; fail them now so
        # the call can retry on a new connection instead of sitting out its whole timeout.
        waiting: list[asyncio.Future[Any]] = [*self._replies.values(), *self.listings]
        self._replies.clear()
        self.listings.clear()
        for answer in waiting:
            if not answer.done():
                answer.set_exception(_ConnectionLost())


def _closed_transport(error: RuntimeError) -> bool:
    """Whether ``error`` is uvloop refusing a write to a transport the server has just closed
    (nats-py lets it through from publish and subscribe before it notices the loss)."""
    return "handler is closed" in str(error)


async def _list_keys(connection: _Connection, bucket: str, head: str) -> list[str]:
    """Keys of ``bucket`` under the subject ``$KV.<bucket>.<head>>``, deleted ones left out.

    An ephemeral push consumer delivers the last message of every subject, headers only; the
    pending count carried by each delivery says when the last one has arrived.
    """
    client = connection.client
    stream = f"KV_{bucket}"
    subject_prefix = f"$KV.{bucket}."
    found: list[str] = []
    complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def on_delivery(message: Msg) -> None:
        if not (message.headers and _is_deletion(message.headers)):
            found.append(message.subject[len(subject_prefix) :])
        if message.metadata.num_pending == 0 and not complete.done():
            complete.set_result(None)

    deliveries = await client.subscribe(client.new_inbox(), cb=on_delivery)
    config = {
        "deliver_subject": deliveries.subject,
        "deliver_policy": "last_per_subject",
        "ack_policy": "none",
        "replay_policy": "instant",
        "filter_subject": f"{subject_prefix}{head}>",
        "headers_only": True,
        "mem_storage": True,
        "num_replicas": 1,
        "inactive_threshold": _LISTING_CONSUMER_IDLE_NS,
    }
    connection.listings.add(complete)
    try:
        reply = await connection.request(
            f"$JS.API.CONSUMER.CREATE.{stream}",
            json.dumps({"stream_name": stream, "config": config}).encode(),
        )
        consumer = _api_answer(reply)
        delivered = consumer.get("delivered", {}).get("consumer_seq", 0)
        if consumer.get("num_pending", 0) == 0 and delivered == 0 and not complete.done():
            complete.set_result(None)
        await complete
    finally:
        connection.listings.discard(complete)
        if complete.done() and not complete.cancelled():
            complete.exception()  # seen here, whether or not the request above raised first
        with contextlib.suppress(nats.errors.Error):
            await deliveries.unsubscribe()
    # Removing it also flushes the unsubscribe before this call returns.
    _api_answer(await connection.request(f"$JS.API.CONSUMER.DELETE.{stream}.{consumer['name']}"))
    return found


async def _get_from_stream_api(connection: _Connection, bucket: str, subject: str) -> bytes | None:
    """A get for a bucket created elsewhere without direct gets (JSON API, base64 payload)."""
    jetstream = connection.client.jetstream()
    try:
        message = await jetstream.get_last_msg(f"KV_{bucket}", subject)
    except nats.js.errors.NotFoundError:
        return None
    if message.headers and _is_deletion(message.headers):
        return None
    return message.data or b""


def _socket_file_of(client: Client) -> tuple[int, int] | None:
    """The file descriptor and inode of ``client``'s socket, or None if nats-py hides them.

    nats-py keeps its transport private; the descriptor is needed only so that a forked child
    can close its copy, so a nats-py that hides it costs that much and no more.
    """
    try:
        writer = client._transport._bare_io_writer  # type: ignore[union-attr]
        descriptor = writer.get_extra_info("socket").fileno()
        return descriptor, os.fstat(descriptor).st_ino
    except (AttributeError, OSError, TypeError):
        return None


def _consume_failure(task: asyncio.Task[Any]) -> None:
    # A failed attempt to connect is reported to the calls that waited for it; when they all
    # gave up first, nobody looks at it, and asyncio would log it as never retrieved.
    if not task.cancelled():
        task.exception()


def _is_deletion(headers: Mapping[str, str]) -> bool:
    # KV delete/purge markers, and the markers nats-server 2.11+ leaves when a key expires.
    return headers.get("KV-Operation") in _DELETED_OPERATIONS or "Nats-Marker-Reason" in headers


def _check_published(reply: Msg) -> None:
    """Raise for a JetStream publish acknowledgement that carries an error."""
    try:
        _api_answer(reply)
    except nats.js.errors.APIError as error:
        if error.err_code == _MESSAGE_TOO_LARGE:
            raise ValueError(f"NATS refused the value: {error.description}") from None
        raise


def _api_answer(reply: Msg) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(reply.data)
    if "error" in answer:
        error = answer["error"]
        raise nats.js.errors.APIError(
            code=error.get("code"),
            err_code=error.get("err_code"),
            description=error.get("description"),
        )
    return answer


def _whole_tokens(prefix: str) -> str:
    """The part of ``prefix`` made of complete subject tokens, usable in a filter subject.

    ``"users.ab"`` gives ``"users."`` (filter ``users.>``, then keep keys starting with
    ``users.ab``); ``"a/b"`` gives ``""`` (every key). A head that no valid key can start with
    (an empty token) also gives ``""``; the prefix test then finds nothing.
    """
    head = prefix[: prefix.rfind(".") + 1]
    if head.startswith(".") or ".." in head:
        return ""
    return head


def _explain(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _describe(servers: list[str]) -> str:
    """Server URLs without any user or password they may carry."""
    described = []
    for server in servers:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        try:
            port = str(parts.port or 4222)
        except ValueError:
            port = "?"
        described.append(f"{parts.scheme}://{parts.hostname}:{port}")
    return ", ".join(described)


# For backends built on this store's connection (pyjinn.backends.locks.nats).
Connection = _Connection
api_answer = _api_answer
is_deletion = _is_deletion

_stores: weakref.WeakSet[NatsKeyValueStore] = weakref.WeakSet()


def _forget_stores_in_child() -> None:
    for store in list(_stores):
        store._forget_in_child()


os.register_at_fork(after_in_child=_forget_stores_in_child)
