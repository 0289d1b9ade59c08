"""One client WebSocket connection, between the event loop speaking it and the guest holding it.

A function that upgrades its request keeps its sandbox, and its guest thread, for the connection's
life. The connection itself lives on the event loop (the ASGI server's ``websocket.*`` messages);
the guest reaches it from its own thread through the websocket capability. A :class:`Connection`
is the bridge between the two, bounded both ways:

- **inbound**: the loop asks the server for the client's next message only once the guest has
  taken the one before. One message waits here and the server holds at most one more (uvicorn
  stops reading the socket until it is taken), so a client that sends fast never makes the
  server buffer.
- **outbound**: the guest's messages wait in a queue of at most ``max_message`` bytes until the
  loop has handed them to the server, which itself waits while the socket's buffer is full. A
  write into a full queue waits for room; a client that reads nothing for the whole wait is
  given up on (closed with 1008), so a client that never reads costs a bounded amount of memory.

A connection ends once, whoever ends it: the client (its close, or it went away), the function
(``ws_close``, or it returned), or the host on the function's behalf (the idle timeout,
``max_duration``, a message too large, a client that does not read). The function reads that
end once, as a close message with its code; after that the connection is closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from pyjinn.observability.metrics import REGISTRY as METRICS

log = logging.getLogger("pyjinn.websocket")

# Message opcodes, as RFC 6455 numbers them.
TEXT, BINARY, CLOSE = 1, 2, 8
# Close codes pyjinn sends (RFC 6455 section 7.4.1).
NORMAL, GOING_AWAY, POLICY, TOO_BIG, FAILED = 1000, 1001, 1008, 1009, 1011
MAX_REASON = 123  # bytes: what fits a close frame
# What one queued message costs beyond its bytes, so a flood of tiny messages is bounded too.
MESSAGE_OVERHEAD = 64
# How long the function's last messages (and its close) may take to reach the client once the
# function has returned, before the connection is dropped.
FLUSH_SECONDS = 5.0

Receive = Any
Send = Any


class ConnectionClosed(Exception):
    """The connection has ended (or the client left before the handshake was accepted)."""


class QueueFull(Exception):
    """The client read nothing while the send queue stayed full for the whole wait."""


@dataclass(frozen=True, slots=True)
class Message:
    """One message: ``opcode`` TEXT, BINARY or CLOSE; a close's ``data`` is its 2-byte code
    (big-endian) and reason, as in a close frame."""

    opcode: int
    data: bytes

    @property
    def cost(self) -> int:
        return len(self.data) + MESSAGE_OVERHEAD


def close_message(code: int, reason: str) -> Message:
    """A close message: ``reason`` is cut to what a close frame holds (on a character)."""
    encoded = reason.encode()[:MAX_REASON].decode("utf-8", "ignore").encode()
    return Message(CLOSE, struct.pack("!H", code) + encoded)


@dataclass(frozen=True, slots=True)
class Ending:
    """How a connection ended: the close code and reason, and who ended it, as the
    ``pyjinn_websocket_connections`` metric names it: client, function, idle, max_duration,
    too_big, not_reading or error."""

    code: int
    reason: str
    by: str


class Connection:
    """One client connection; see the module. ``idle_timeout`` and ``max_duration`` are seconds
    (the function's ``timeout`` and ``max_duration``), counted from now."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        receive: Receive,
        send: Send,
        *,
        function: str,
        idle_timeout: float,
        max_duration: float,
        max_message: int,
    ) -> None:
        self.loop = loop
        self._receive = receive
        self._send = send
        self.function = function
        self.max_message = max_message
        self.started_ns = time.monotonic_ns()
        self.idle_ns = round(idle_timeout * 1e9)
        self.ends_ns = self.started_ns + round(max_duration * 1e9)
        self.upgraded = False
        self.ending: Ending | None = None
        self.messages_in = self.messages_out = 0
        self._condition = threading.Condition()
        self._inbound: collections.deque[Message] = collections.deque()
        self._outbound: collections.deque[Message] = collections.deque()
        self._outbound_bytes = 0
        self._close_told = False  # whether the function has read the close
        self._accepted = threading.Event()
        self._room = asyncio.Event()  # the inbound queue is empty: read the next message
        self._room.set()
        self._pending = asyncio.Event()  # the outbound queue has something, or the end came
        self._tasks: list[asyncio.Task[None]] = []
        self._opened_ns = 0

    # The guest's side (its thread): blocking, each wait bounded by the caller's deadline.

    def accept(self, timeout: float) -> None:
        """Accept the client's handshake; raises ``ConnectionClosed`` when the client has left
        (or the loop did not answer within ``timeout`` seconds)."""
        if self.upgraded:
            raise RuntimeError("the connection was accepted already")
        self.upgraded = True
        self.loop.call_soon_threadsafe(self._start)
        if not self._accepted.wait(timeout) or self.ending is not None:
            self._end(Ending(FAILED, "", "client"), tell=False)
            raise ConnectionClosed("the client left before its handshake was accepted")

    def receive(self, until_ns: int) -> Message | None:
        """The client's next message, or the close once the connection has ended; None when
        nothing came before ``until_ns`` (monotonic). Raises ``ConnectionClosed`` once the
        close was read."""
        with self._condition:
            while True:
                if self._inbound:
                    message = self._inbound.popleft()
                    self.loop.call_soon_threadsafe(self._room.set)
                    return message
                if self.ending is not None:
                    if self._close_told:
                        raise ConnectionClosed("the connection is closed")
                    self._close_told = True
                    return close_message(self.ending.code, self.ending.reason)
                remaining = (until_ns - time.monotonic_ns()) / 1e9
                if remaining <= 0:
                    return None
                self._condition.wait(remaining)

    def send(self, message: Message, until_ns: int) -> None:
        """Queue ``message`` for the client, waiting for room until ``until_ns``; raises
        ``QueueFull`` when none came, ``ConnectionClosed`` once the connection has ended."""
        with self._condition:
            while True:
                if self.ending is not None:
                    raise ConnectionClosed("the connection is closed")
                queued = self._outbound_bytes
                if queued == 0 or queued + message.cost <= self.max_message + MESSAGE_OVERHEAD:
                    break
                remaining = (until_ns - time.monotonic_ns()) / 1e9
                if remaining <= 0:
                    raise QueueFull(
                        f"the client read nothing while {queued} bytes waited to be sent"
                    )
                self._condition.wait(remaining)
            self._outbound.append(message)
            self._outbound_bytes += message.cost
        self.loop.call_soon_threadsafe(self._pending.set)

    def close(self, code: int, reason: str, *, by: str, tell: bool) -> bool:
        """End the connection from this side: the close follows the messages queued before.
        ``tell``: the function reads the close (the host ended it on the function's behalf).
        False when it had ended already."""
        return self._end(Ending(code, reason, by), tell=tell, queue_close=True)

    def _end(self, ending: Ending, *, tell: bool, queue_close: bool = False) -> bool:
        """Record the connection's end, once (False when it had ended); callable from either
        thread."""
        with self._condition:
            if self.ending is not None:
                return False
            self.ending = ending
            self._close_told = not tell
            if queue_close:
                message = close_message(ending.code, ending.reason)
                self._outbound.append(message)
                self._outbound_bytes += message.cost
            self._condition.notify_all()
        if self.loop.is_running():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody writes anymore
                self.loop.call_soon_threadsafe(self._pending.set)
        return True

    # The loop's side.

    def _start(self) -> None:
        self._tasks.append(self.loop.create_task(self._open()))

    async def _open(self) -> None:
        try:
            await self._send({"type": "websocket.accept"})
        except Exception as error:  # the client went away (uvicorn: ClientDisconnected)
            log.debug("A WebSocket client of %s left before its accept: %r.", self.function, error)
            self._end(Ending(FAILED, "", "client"), tell=False)
            self._accepted.set()
            return
        self._opened_ns = time.monotonic_ns()
        METRICS.websocket_opened(self.function)
        self._tasks.append(self.loop.create_task(self._read_client()))
        self._tasks.append(self.loop.create_task(self._write_client()))
        self._accepted.set()

    async def _read_client(self) -> None:
        while True:
            await self._room.wait()
            event = await self._receive()
            kind = event["type"]
            if kind == "websocket.disconnect":
                self._end(Ending(event.get("code", 1005), event.get("reason") or "", "client"),
                          tell=True)  # fmt: skip
                return
            if kind != "websocket.receive":
                continue
            text = event.get("text")
            data = text.encode() if text is not None else (event.get("bytes") or b"")
            if len(data) > self.max_message:
                self._end(
                    Ending(TOO_BIG, f"message over max_message ({self.max_message} bytes)",
                           "too_big"),
                    tell=True,
                    queue_close=True,
                )  # fmt: skip
                return
            with self._condition:
                if self.ending is not None:
                    return
                self._inbound.append(Message(TEXT if text is not None else BINARY, data))
                self._room.clear()
                self.messages_in += 1
                self._condition.notify_all()
            METRICS.websocket_message(self.function, "in", len(data))

    async def _write_client(self) -> None:
        while True:
            await self._pending.wait()
            with self._condition:
                if not self._outbound:
                    self._pending.clear()
                    if self.ending is not None:
                        return  # ended with nothing more to send (the client left)
                    continue
                message = self._outbound[0]
            try:
                if message.opcode == CLOSE:
                    (code,) = struct.unpack_from("!H", message.data)
                    reason = message.data[2:].decode()
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                elif message.opcode == TEXT:
                    await self._send({"type": "websocket.send", "text": message.data.decode()})
                else:
                    await self._send({"type": "websocket.send", "bytes": message.data})
            except Exception as error:  # the client went away (uvicorn: ClientDisconnected)
                log.debug("A WebSocket client of %s went away: %r.", self.function, error)
                self._end(Ending(1006, "", "client"), tell=True)
                return
            with self._condition:
                self._outbound.popleft()
                self._outbound_bytes -= message.cost
                if message.opcode != CLOSE:
                    self.messages_out += 1
                self._condition.notify_all()
            if message.opcode == CLOSE:
                return
            METRICS.websocket_message(self.function, "out", len(message.data))

    async def finish(self, failure: str | None) -> None:
        """The function has returned (``failure``: the short reason it failed, if it did):
        close the connection after what it sent, or with 1011 when it failed, giving the last
        messages ``FLUSH_SECONDS`` to go out; then account for the connection."""
        if not self.upgraded:
            return
        if failure is None:
            self._end(Ending(NORMAL, "", "function"), tell=False, queue_close=True)
        else:
            self._end(Ending(FAILED, failure, "error"), tell=False, queue_close=True)
        writer = self._tasks[2] if len(self._tasks) == 3 else None
        if writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(writer), FLUSH_SECONDS)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._opened_ns:
            ending = self.ending
            assert ending is not None
            seconds = (time.monotonic_ns() - self._opened_ns) / 1e9
            METRICS.websocket_closed(self.function, ending.by, seconds)
