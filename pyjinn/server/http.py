"""The HTTP server of a worker: uvicorn on inherited sockets, guarded against slow and idle clients.

uvicorn (httptools, uvloop) closes a kept-alive connection that stays idle, but has no time
limit on reading a request: a client that sends its headers one line every few seconds, stops
in the middle of a body, or connects and sends nothing holds its connection, and a file
descriptor, for ever; and it accepts connections until the process runs out of descriptors.
``GuardedHttpProtocol``, a small subclass of uvicorn's httptools protocol, adds what the
``servers`` option configures (``pyjinn.config.model.ServerSettings``):

- **read_header**: a request's headers must be complete within this time, counted from the
  accept for the first request of a connection (so a connection that sends nothing is closed
  too) and from its first byte for later ones. A partial request is answered 408 and closed
  (half-closed first, its further input discarded for up to ``LINGER_SECONDS``, so the client
  reads the 408 rather than a reset); a connection that sent nothing is closed silently.
- **read_body**: each wait for more of a request's body. A stalled upload is answered 408 and
  closed; the function never runs, and the ASGI app sees a disconnect marked with
  ``READ_TIMEOUT_EXTENSION`` (so it records a 408, not a client that left).
- **idle**: a kept-alive connection's wait for its next request (uvicorn's own keep-alive).
- **max_connections** per worker: a connection beyond it is answered 503 and closed at once,
  before anything is read, so the cap also bounds file descriptors.

It also offers each request ``ONE_WRITE_EXTENSION`` (``OneWrite``): an answer sent whole goes
out in one write, head and body together, where uvicorn writes them apart (a system call and a
loopback wake-up each: about a quarter of the event loop's time on a hello request).

WebSocket connections (``pyjinn.server.actors``) are served by uvicorn's sans-I/O protocol on the
``websockets`` library, without per-message compression (which would cost memory per connection
and invite decompression bombs), refusing messages over 16 MiB as they arrive. A connection
whose app has finished but whose client reads nothing keeps its socket only ``CLOSE_LINGER``
seconds before it is aborted.

Timers cost nothing per request: one timer per connection fires at the earliest deadline it
may have to enforce, and only then compares it with the deadline the connection has now.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import resource
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from pyjinn.config.model import ServerSettings
from pyjinn.config.websocket import MAX_MESSAGE_CEILING
from pyjinn.server.asgi import ONE_WRITE_EXTENSION, READ_TIMEOUT_EXTENSION

log = logging.getLogger("pyjinn.server")

# A worker keeps this share of its open-file limit for connections by default; the rest is
# for modules, databases, guest output files and its own connections (NATS, PostgreSQL).
CONNECTION_SHARE = 0.75
_WARNING_INTERVAL = 60.0  # seconds between two warnings about the connection cap
# After answering a request it did not read whole, a connection is half-closed and what the
# client still sends is discarded for at most this long before it is closed: closing with
# unread input sends a reset, which can destroy the answer before the client reads it.
LINGER_SECONDS = 2.0
# Seconds a finished WebSocket connection may wait for its last bytes to reach a client that
# does not read, before its socket is aborted (more than uvicorn's 10 s closing handshake).
CLOSE_LINGER = 15.0


@dataclass(frozen=True)
class ConnectionLimits:
    """What ``GuardedHttpProtocol`` enforces; times are seconds."""

    read_header_timeout: float
    read_body_timeout: float
    max_connections: int


def serve_http(
    app: Any,
    sockets: list[socket.socket],
    grace: float,
    settings: ServerSettings | None = None,
) -> None:
    """Run an ASGI app on already-bound sockets until SIGTERM or SIGINT, then drain gracefully.

    Raises the open-file limit to its hard limit first, and guards connections as ``settings``
    (the ``servers`` option; its defaults without one) say."""
    settings = settings or ServerSettings()
    file_limit = raise_open_file_limit()
    limits = ConnectionLimits(
        read_header_timeout=settings.read_header_timeout,
        read_body_timeout=settings.read_body_timeout,
        max_connections=settings.max_connections or default_max_connections(file_limit),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http=protocol_for(limits),
            ws=GuardedWebSocketProtocol,
            ws_max_size=MAX_MESSAGE_CEILING,
            ws_per_message_deflate=False,
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            # uvicorn counts its keep-alive timeout in whole seconds.
            timeout_keep_alive=max(1, math.ceil(settings.idle_timeout)),
            timeout_graceful_shutdown=max(1, int(grace + 0.999)),
        )
    )
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op handler keeps
    # that from killing the process, so it can still close the runtime and exit cleanly.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    server.run(sockets=sockets)


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit; returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:
            log.warning("Could not raise the open-file limit from %d to %d: %s.", soft, hard, error)
        else:
            soft = hard
    return soft


def default_max_connections(file_limit: int) -> int:
    """The connection cap of a worker whose open-file limit is ``file_limit``."""
    return max(1, int(file_limit * CONNECTION_SHARE))


def protocol_for(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to ``limits``."""

    class ConfiguredHttpProtocol(GuardedHttpProtocol):
        pass

    ConfiguredHttpProtocol.limits = limits
    return ConfiguredHttpProtocol


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read timeouts and a connection cap (see the module)."""

    limits: ClassVar[ConnectionLimits]
    _last_cap_warning: ClassVar[float] = -math.inf
    _refused_since_warning: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What is being read ("headers", "body" or "" while the app runs or the connection
        # idles), and by when it must be done.
        self._reading = ""
        self._deadline = math.inf
        self._began = False  # whether a byte of the request being read has arrived
        self._timer: asyncio.TimerHandle | None = None
        self._lingering = False  # answered and half-closed: input is discarded
        self._writes: OneWrite | None = None

    # Connection lifetime

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._writes = OneWrite(transport)
        self._read_within("headers", self.limits.read_header_timeout)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the connection was answered and is closing
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    # Parser callbacks: where a request is, and by when the next part of it must arrive

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._reading != "headers":  # a later request: its time starts with its first byte
            self._read_within("headers", self.limits.read_header_timeout)
        self._began = True

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope:  # not an upgrade: a new cycle
            cycle.transport = self._writes  # type: ignore[assignment]
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[ONE_WRITE_EXTENSION] = self._writes
        self._read_within("body", self.limits.read_body_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        # Only the deadline moves; the timer finds it when it fires.
        self._deadline = self.loop.time() + self.limits.read_body_timeout

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading, self._deadline, self._began = "", math.inf, False

    # Deadlines

    def _read_within(self, what: str, seconds: float) -> None:
        deadline = self.loop.time() + seconds
        self._reading, self._deadline = what, deadline
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._reading or self.transport.is_closing():
            return  # the app is running, or the connection idles under uvicorn's keep-alive
        now = self.loop.time()
        if self._reading == "body" and self.flow.read_paused:
            # The server, not the client, stopped reading the body: the app has not taken
            # what arrived yet, or a pipelined request waits its turn.
            self._deadline = now + self.limits.read_body_timeout
        if now < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            return
        self._time_out()

    def _time_out(self) -> None:
        what = self._reading
        cycle = self.cycle
        if what == "headers":
            if cycle is not None and not cycle.response_complete:
                # A pipelined request stalled while the one before it is being answered:
                # finish that answer, then close.
                cycle.keep_alive = False
                self._reading = ""
                return
            answered = self._began
            if answered:
                self._answer(408, "request headers not received in time")
            log.debug("Closed a connection from %s: %s.", _peer(self.client), what)
        else:
            answered = cycle is not None and not cycle.response_started
            if cycle is not None and answered:
                cycle.scope.setdefault("extensions", {})[READ_TIMEOUT_EXTENSION] = {}
                self._answer(408, "request body not received in time")
            log.debug("Closed a connection from %s: its body stalled.", _peer(self.client))
        self._reading = ""
        if answered:
            self._linger()
        else:
            self.transport.close()

    def _linger(self) -> None:
        """Close a connection answered before its request was read whole: send the answer and
        end the output (half-close), discard what the client still sends, and close when it
        closes its side or after ``LINGER_SECONDS``."""
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    # Answers written before (or instead of) the app

    def _answer(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            *(b"%s: %s\r\n" % header for header in self.server_state.default_headers),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))

    def _refuse(self, transport: asyncio.Transport) -> None:
        self.transport = transport  # connection_lost closes it again, harmlessly
        self._answer(503, "server is at its connection limit, retry shortly")
        transport.close()
        cls = GuardedHttpProtocol
        cls._refused_since_warning += 1
        now = time.monotonic()
        if now - cls._last_cap_warning >= _WARNING_INTERVAL:
            log.warning(
                "Refused %d connection(s) with 503: this worker holds max_connections (%d).",
                cls._refused_since_warning,
                self.limits.max_connections,
            )
            cls._last_cap_warning, cls._refused_since_warning = now, 0


_REASONS = {408: b"Request Timeout", 503: b"Service Unavailable"}


class OneWrite:
    """A connection's transport as its requests write to it: passed through, except between
    ``hold()`` and ``release()``, where writes are gathered and then sent as one. Responses on a
    connection are written one after the other, so one per connection serves them all."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: list[bytes] | None = None

    def hold(self) -> None:
        self._held = []

    def release(self) -> None:
        held, self._held = self._held, None
        if held and not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def write(self, data: bytes) -> None:
        if self._held is None:
            self._transport.write(data)
        else:
            self._held.append(data)

    def close(self) -> None:
        self.release()  # a response that ends the connection closes it from within send
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, which aborts a finished connection whose client does not
    read: closing waits for the socket's buffer to drain, which such a client never lets it."""

    _abort_timer: asyncio.TimerHandle | None = None

    def on_task_complete(self, task: asyncio.Task[None]) -> None:
        super().on_task_complete(task)
        if not self.disconnected:
            self._abort_timer = self.loop.call_later(CLOSE_LINGER, self._abort)

    def _abort(self) -> None:
        self._abort_timer = None
        if not self.disconnected:
            log.debug("Aborted a WebSocket connection of %s: it read nothing.", _peer(self.client))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._abort_timer is not None:
            self._abort_timer.cancel()
            self._abort_timer = None
        super().connection_lost(exc)


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown client"
