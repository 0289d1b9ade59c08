"""The read fast path: JetStream direct gets over one plain, blocking socket per thread.

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

import json
import secrets
import socket
import ssl
import threading
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
            "name": f"pyjinn-kv-direct {threading.current_thread().name}",
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
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


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
    """Direct gets for many threads, each on its own connection to the first server."""

    def __init__(self, servers: list[str], credentials: dict[str, str | None]) -> None:
        self._url = servers[0]
        self._credentials = credentials
        self._local = threading.local()
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._closed = False

    def get(self, bucket: str, key: str, timeout: float) -> bytes | None:
        """The value of ``key`` in ``bucket``, or None; raises ``Fallback`` when unsure."""
        if self._closed:
            raise Fallback("closed")
        connection: _Connection | None = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = _Connection(self._url, self._credentials, timeout)
                self._local.connection = connection
                with self._lock:
                    self._connections.add(connection)
            return connection.get(f"KV_{bucket}.$KV.{bucket}.{key}", timeout)
        except _Answered:
            raise
        except Fallback:
            self._drop()
            raise
        except TimeoutError:
            self._drop()
            raise TimedOut() from None
        except (OSError, ValueError) as error:  # connection trouble, or a garbled line
            self._drop()
            raise Fallback(str(error)) from None

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                self._connections.discard(connection)
            connection.close()

    def close(self) -> None:
        """Close every thread's connection (a thread mid-read gets an error, then falls back)."""
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            connection.close()
