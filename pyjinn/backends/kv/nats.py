"""Key-value on NATS JetStream: one KV bucket per tenant, one connection per guest thread.

Guest threads call synchronously. Handing each call to a shared event loop in another thread
would add a thread hop (two context switches and two GIL hand-overs) to every call, so each
calling thread owns an event loop and a nats-py connection and runs its request to completion
on its own loop with ``run_until_complete``. Between calls that loop does not run: nothing
happens in the background, so a connection the server has closed is noticed at the next call,
which connects again within its own time budget and retries once.

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
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats.errors
import nats.js.errors
import uvloop
from nats.aio.client import Client
from nats.aio.msg import Msg

from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.kv.direct import DirectReader, Fallback, TimedOut

__all__ = ["BUCKET_PREFIX", "NatsKeyValueStore"]

log = logging.getLogger(__name__)

#: Bucket of tenant ``t`` is ``BUCKET_PREFIX + t``.
BUCKET_PREFIX = "pyjinn_"

_T = TypeVar("_T")

# How long close() waits for a call in flight on another thread before leaving that thread to
# close its own connection when the call returns; and how long closing one connection may take.
_CLOSE_WAIT = 1.0
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

    ``servers`` are NATS URLs (``nats://host:port``), tried in random order whenever a thread
    connects. ``user``/``password`` or ``token`` authenticate; they never appear in messages or
    logs. ``replicas`` is the replication factor of the buckets this store creates (1 for a
    single server, 3 for a typical cluster). Create the store in the process that uses it:
    its per-thread connections do not survive a fork.

    Every call is bounded by its ``timeout`` (connecting included) and raises
    :class:`~pyjinn.backends.kv.StoreUnavailable` when NATS cannot be reached, does not answer
    in time, or refuses the request; ``set`` raises ``ValueError`` for a value larger than the
    server's maximum payload. ``close()`` closes every thread's connection.
    """

    def __init__(
        self,
        servers: list[str],
        *,
        user: str | None,
        password: str | None,
        token: str | None = None,
        replicas: int = 1,
    ) -> None:
        if not servers:
            raise ValueError("NatsKeyValueStore needs at least one server URL")
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self._servers = list(servers)
        self._credentials = {"user": user, "password": password, "token": token}
        self._replicas = replicas
        self._local = threading.local()
        self._threads: list[_ThreadState] = []
        self._threads_lock = threading.Lock()
        self._closed = False
        # Reads take a fast path of their own; see pyjinn.backends.kv.direct.
        self._direct = DirectReader(self._servers, self._credentials)

    def __repr__(self) -> str:
        return f"NatsKeyValueStore({_describe(self._servers)})"

    # -- the KeyValueStore protocol ------------------------------------------------------------

    def get(self, tenant: str, key: str, *, timeout: float) -> bytes | None:
        """The value of ``key`` in ``tenant``'s bucket, or None when it is missing or deleted."""
        if not self._closed:
            started = time.monotonic()
            try:
                return self._direct.get(BUCKET_PREFIX + tenant, key, timeout)
            except TimedOut:
                raise StoreUnavailable(
                    f"NATS did not complete the get within {timeout:g} s"
                ) from None
            except Fallback:
                timeout = max(0.0, timeout - (time.monotonic() - started))
        return self._call("get", timeout, lambda connection: self._get(connection, tenant, key))

    def set(self, tenant: str, key: str, value: bytes, *, timeout: float) -> None:
        """Create or replace ``key``; ``ValueError`` when ``value`` exceeds the max payload."""
        self._call("set", timeout, lambda connection: self._set(connection, tenant, key, value))

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        """Remove ``key`` (a KV delete marker); removing a missing key is not an error."""
        self._call("delete", timeout, lambda connection: self._delete(connection, tenant, key))

    def keys(self, tenant: str, prefix: str, *, timeout: float) -> list[str]:
        """Every existing key of ``tenant`` that starts with ``prefix``, sorted."""
        return self._call(
            "list", timeout, lambda connection: self._keys(connection, tenant, prefix)
        )

    def close(self) -> None:
        """Close every thread's connection and event loop; later calls raise StoreUnavailable.

        Connections of threads that are idle (or gone) are closed here. A thread in the middle
        of a call is waited for briefly; if it is still busy it closes its own connection when
        its call returns.
        """
        self._closed = True
        self._direct.close()
        with self._threads_lock:
            states, self._threads = self._threads, []

        def shut_down_all() -> None:
            for state in states:
                if state.lock.acquire(timeout=_CLOSE_WAIT):
                    try:
                        state.shut_down()
                    finally:
                        state.lock.release()

        # On a thread of its own: the caller may be running an event loop (an ASGI lifespan
        # shutdown, say), and no other loop can run on a thread that already runs one.
        closer = threading.Thread(target=shut_down_all, name="pyjinn-kv-close")
        closer.start()
        closer.join()

    # -- one call on the calling thread's own loop ----------------------------------------------

    def _call(
        self, operation: str, timeout: float, work: Callable[[_Connection], Awaitable[_T]]
    ) -> _T:
        state = self._thread_state()
        with state.lock:
            try:
                if self._closed or state.is_shut_down:
                    raise StoreUnavailable(
                        f"cannot {operation}: the NATS key-value store is closed"
                    )
                return state.loop.run_until_complete(self._run(state, operation, timeout, work))
            finally:
                if self._closed:
                    state.shut_down()

    async def _run(
        self,
        state: _ThreadState,
        operation: str,
        timeout: float,
        work: Callable[[_Connection], Awaitable[_T]],
    ) -> _T:
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                for attempt in itertools.count():
                    connection = await self._connection(state, deadline)
                    try:
                        return await work(connection)
                    except _ConnectionLost:
                        # The server went away (or closed an idle connection) between calls;
                        # one retry on a fresh connection, then give up.
                        if attempt:
                            raise
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
            if state.connection is not None:
                state.connection.buckets.clear()
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

    def _thread_state(self) -> _ThreadState:
        state: _ThreadState | None = getattr(self._local, "state", None)
        if state is None:
            state = _ThreadState(threading.current_thread())
            with self._threads_lock:
                gone = [other for other in self._threads if not other.is_owner_alive]
                self._threads = [other for other in self._threads if other not in gone]
                self._threads.append(state)
            for other in gone:
                other.shut_down_if_idle()
            self._local.state = state
        return state

    async def _connection(self, state: _ThreadState, deadline: float) -> _Connection:
        connection = state.connection
        if connection is not None and connection.is_open:
            return connection
        state.connection = None
        if connection is not None:
            await connection.discard()
        state.connection = await _Connection.open(self._servers, self._credentials, deadline)
        return state.connection

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


class _ThreadState:
    """What one calling thread owns: its event loop and its connection."""

    def __init__(self, owner: threading.Thread) -> None:
        self._owner = weakref.ref(owner)
        self.loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        # Held while a call runs, so that close() from another thread never runs this loop
        # at the same time as its owner.
        self.lock = threading.Lock()
        self.connection: _Connection | None = None
        self.is_shut_down = False

    @property
    def is_owner_alive(self) -> bool:
        owner = self._owner()
        return owner is not None and owner.is_alive()

    def shut_down_if_idle(self) -> None:
        if self.lock.acquire(blocking=False):
            try:
                self.shut_down()
            finally:
                self.lock.release()

    def shut_down(self) -> None:
        """Close the connection, then the loop. The caller holds ``lock``."""
        if self.is_shut_down:
            return
        self.is_shut_down = True
        loop = self.loop
        try:
            if self.connection is not None:
                loop.run_until_complete(self.connection.discard())
                self.connection = None
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        except Exception:
            log.warning("Closing a NATS connection failed.", exc_info=True)
        finally:
            loop.close()


class _Connection:
    """One thread's nats-py client, its reply inbox, and the buckets known to exist."""

    def __init__(self, client: Client) -> None:
        self.client = client
        # bucket name -> whether it serves direct gets; reset with every new connection.
        self.buckets: dict[str, bool] = {}
        self._inbox = client.new_inbox()
        self._replies: dict[str, asyncio.Future[Msg]] = {}
        self._tokens = itertools.count()
        # What nats-py reported through its error callback (connection attempts, mostly).
        self.errors: list[Exception] = []

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
                    name=f"pyjinn-kv {threading.current_thread().name}",
                    allow_reconnect=False,
                    # nats-py retries a refused connection max_reconnect_attempts + 1 times
                    # even without reconnects; make that two immediate tries, not a minute.
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
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
        # nats-py leaves waiting requests waiting when the connection drops; fail them now so
        # the call can retry on a new connection instead of sitting out its whole timeout.
        for answer in self._replies.values():
            if not answer.done():
                answer.set_exception(_ConnectionLost())
        self._replies.clear()


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
    try:
        reply = await connection.request(
            f"$JS.API.CONSUMER.CREATE.{stream}",
            json.dumps({"stream_name": stream, "config": config}).encode(),
        )
        consumer = _api_answer(reply)
        delivered = consumer.get("delivered", {}).get("consumer_seq", 0)
        if consumer.get("num_pending", 0) == 0 and delivered == 0:
            complete.set_result(None)
        await complete
    finally:
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
