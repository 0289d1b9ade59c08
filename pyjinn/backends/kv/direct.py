"""The read fast path: JetStream direct gets over a few plain, blocking sockets.

A key read is the hot host call. Through nats-py it costs about 200 µs here, of which the
server's answer is some 40 µs: the rest is asyncio machinery (a loop run, a flusher task,
queues, futures) around one request and one reply. This reader sends the direct-get request
(``$JS.API.DIRECT.GET.<stream>.<subject>``) and reads the reply on the calling thread with a
blocking socket, and implements exactly that much of the NATS client protocol: connect and
authenticate, one inbox subscription, PING/PONG, and (H)MSG replies.

Everything it is not sure about is handed back to the caller as :class:`Fallback`, and the
nats-py path (which creates buckets, reconnects and explains failures) serves the call instead:
a bucket that does not exist yet or does not serve direct gets, an error status, a lost or
slow connection. It never decides a read on its own except for the two plain answers: the value,
or "no such key" (404, or a delete marker).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import socket
import ssl
import threading
import time
from urllib.parse import SplitResult, urlsplit

_DELETED = (b"kv-operation: del", b"kv-operation: purge")


class Fallback(Exception):
    """The fast path cannot answer this read; use the general path."""


class TimedOut(Exception):
    """The server did not answer in time: the general path would not do better."""


class _Answered(Fallback):
    """The server answered with something other than a value or 404; the connection is fine."""


class _Connection:
    def __init__(self, url: str, credentials: dict[str, str | None], timeout: float) -> None:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        sock = socket.create_connection((host, port), timeout=timeout)
        self.sock: socket.socket = sock
        self.reader = sock.makefile("rb")
        try:
            self._handshake(parts, host, credentials)
        except BaseException:
            self.close()
            raise

    def _handshake(self, parts: SplitResult, host: str, credentials: dict[str, str | None]) -> None:
        sock = self.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        info = self._line()
        if not info.startswith(b"INFO "):
            raise Fallback("the server did not introduce itself")
        details = json.loads(info[5:])
        if parts.scheme == "tls" or details.get("tls_required"):
            context = ssl.create_default_context()
            self.sock = context.wrap_socket(sock, server_hostname=host)
            self.reader = self.sock.makefile("rb")
        connect: dict[str, object] = {
            "verbose": False,
            "pedantic": False,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "lang": "python",
            "name": f"pyjinn-kv-direct {os.getpid()}",
        }
        user = credentials.get("user") or parts.username
        password = credentials.get("password") or parts.password
        if user:
            connect["user"], connect["pass"] = user, password
        if credentials.get("token"):
            connect["auth_token"] = credentials["token"]
        self.inbox = f"_INBOX.{secrets.token_hex(11)}"
        self.sock.sendall(
            f"CONNECT {json.dumps(connect)}\r\nSUB {self.inbox}.* 1\r\nPING\r\n".encode()
        )
        while (line := self._line()) != b"PONG":
            if line.startswith(b"-ERR"):
                raise Fallback("the server refused the connection")  # no credentials in here
        self.requests = 0

    def _line(self) -> bytes:
        line = self.reader.readline()
        if not line:
            raise Fallback("the connection closed")
        return line.rstrip(b"\r\n")

    def get(self, subject: str, timeout: float) -> bytes | None:
        self.requests += 1
        reply = f"{self.inbox}.{self.requests}"
        self.sock.settimeout(timeout)
        self.sock.sendall(f"PUB $JS.API.DIRECT.GET.{subject} {reply} 0\r\n\r\n".encode())
        expected = reply.encode()
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if not line.startswith((b"MSG ", b"HMSG ")):
                if line.startswith(b"-ERR"):
                    raise Fallback("the server reported an error")
                continue  # INFO updates, +OK, PONG
            fields = line.split()
            total = int(fields[-1])
            payload = self.reader.read(total + 2)[:total]
            if fields[1] != expected:
                continue  # a late answer to an earlier request that timed out
            if fields[0] == b"MSG":
                return payload
            header_length = int(fields[-2])
            return _value(payload[:header_length], payload[header_length:])

    def close(self) -> None:
        """Close the connection; a thread blocked reading from it gets an error at once (a
        plain close would not wake it)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.close_descriptor()

    def close_descriptor(self) -> None:
        """Close this process's descriptor only: in a forked child, the parent's connection
        stays open."""
        with contextlib.suppress(OSError):
            self.reader.close()
            self.sock.close()


def _value(headers: bytes, data: bytes) -> bytes | None:
    status_line, _, rest = headers.partition(b"\r\n")
    status = status_line[len(b"NATS/1.0") :].strip()
    if status.startswith(b"404"):
        return None
    if status:
        raise _Answered(f"the server answered {status[:40]!r}")
    lowered = rest.lower()
    if any(marker in lowered for marker in _DELETED):
        return None
    return data


class DirectReader:
    """Direct gets for many threads over at most ``size`` connections to the first server.

    A get checks a connection out for its request and reply and puts it back after, so
    connections are shared by all threads and never used by two at once. A new connection is
    opened only when none is idle. When all ``size`` are in use, a get waits for one to come
    back, within its own time budget; one that does not come back in time is :class:`TimedOut`
    (the other connections are busy, not broken).
    """

    def __init__(
        self, servers: list[str], credentials: dict[str, str | None], *, size: int
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, not {size}")
        self._url = servers[0]
        self._credentials = credentials
        self._size = size
        self._closed = False
        self._start_empty()

    def _start_empty(self) -> None:
        # Idle connections, and None for a connection that was dropped and may be opened
        # again. A SimpleQueue: its blocking get waits and wakes in C, which keeps the hand-over
        # between threads cheap when every connection is busy.
        self._idle: queue.SimpleQueue[_Connection | None] = queue.SimpleQueue()
        self._unopened = self._size  # connections that may still be opened
        self._open: set[_Connection] = set()  # idle and checked out, for close()
        self._lock = threading.Lock()  # guards _unopened and _open

    @property
    def in_use(self) -> int:
        """Connections checked out by a get, or being opened for one."""
        with self._lock:
            return self._size - self._unopened - self._idle.qsize()

    def get(self, bucket: str, key: str, timeout: float) -> bytes | None:
        """The value of ``key`` in ``bucket``, or None; raises ``Fallback`` when unsure."""
        deadline = time.monotonic() + timeout
        connection = None
        try:
            connection = self._check_out(deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            value = connection.get(f"KV_{bucket}.$KV.{bucket}.{key}", remaining)
        except _Answered:
            self._check_in(connection)
            raise
        except (Fallback, TimedOut):
            self._discard(connection)
            raise
        except TimeoutError:
            self._discard(connection)
            raise TimedOut() from None
        except (OSError, ValueError) as error:  # connection trouble, or a garbled line
            self._discard(connection)
            raise Fallback(str(error)) from None
        except BaseException:
            self._discard(connection)
            raise
        self._check_in(connection)
        return value

    def close(self) -> None:
        """Close every connection (one in use gets an error, and its get falls back)."""
        with self._lock:
            self._closed = True
            connections, self._open = self._open, set()
        for _ in range(self._size):
            self._idle.put(None)  # wakes every waiting get, which then sees the close
        for connection in connections:
            connection.close()

    def forget(self) -> None:
        """In a forked child: close this process's copies of the parent's connections (the
        parent keeps using them) and start from none."""
        connections = self._open
        self._start_empty()  # new locks too: a thread the child lacks may have held one
        for connection in connections:
            connection.close_descriptor()

    def _check_out(self, deadline: float) -> _Connection:
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._open_or_wait(deadline)
        if connection is None:
            return self._connect(deadline)
        if self._closed:
            self._idle.put(connection)
            raise Fallback("closed")
        return connection

    def _open_or_wait(self, deadline: float) -> _Connection | None:
        """None to open a new connection, or the idle one that came back while waiting."""
        with self._lock:
            if self._unopened:
                self._unopened -= 1
                return None
        try:
            return self._idle.get(timeout=max(deadline - time.monotonic(), 0.0))
        except queue.Empty:
            raise TimedOut(
                f"none of the {self._size} connections to NATS for reads came free within "
                "the call's time budget"
            ) from None

    def _connect(self, deadline: float) -> _Connection:
        """Open a connection in a slot this thread holds; the slot is given back on failure."""
        if self._closed:
            self._idle.put(None)
            raise Fallback("closed")
        try:
            connection = _Connection(
                self._url, self._credentials, max(deadline - time.monotonic(), 0.001)
            )
        except BaseException:
            self._idle.put(None)
            raise
        with self._lock:
            if not self._closed:
                self._open.add(connection)
                return connection
        connection.close()  # the reader closed while it connected
        self._idle.put(None)
        raise Fallback("closed")

    def _check_in(self, connection: _Connection | None) -> None:
        if connection is not None:
            self._idle.put(connection)

    def _discard(self, connection: _Connection | None) -> None:
        if connection is None:
            return
        with self._lock:
            self._open.discard(connection)
        connection.close()
        self._idle.put(None)  # the slot is free: the next get that takes it connects anew
