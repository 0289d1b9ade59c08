"""The websocket capability: a function takes over its request's WebSocket connection.

``ws_upgrade`` accepts the handshake; from then on the invocation holds the connection (a
``pyjinn.websocket.Connection``) and its sandbox until the function returns. Time is kept by
moving the invocation's deadline, which the limits watch reads at every epoch tick:

- at the upgrade, and at every message read or written, the deadline becomes the idle timeout
  (the function's ``timeout``) from now, never past ``max_duration`` from the request's start.
  A guest that computes past it is stopped as timed out, as any guest is;
- a read waits at most until that deadline. If nothing came, the connection has been idle for
  the whole timeout (or reached ``max_duration``): the host closes it with 1001 and the read
  returns the close, and the guest gets ``CLOSE_GRACE`` (at most its timeout) to finish;
- a write into a full send queue waits at most until shortly before that deadline; a client
  that read nothing all that time is given up on (1008) and the write fails with LIMIT.

Gojinn's ``host_ws_*`` calls are the same, with Gojinn's conventions (1/0, a length or 0).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pyjinn.abi import ErrorCode
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import HOST_CALL_RESERVE, Call, HostCallError
from pyjinn.config.model import Permissions
from pyjinn.websocket import (
    BINARY,
    CLOSE,
    GOING_AWAY,
    MAX_REASON,
    NORMAL,
    POLICY,
    TEXT,
    TOO_BIG,
    Connection,
    ConnectionClosed,
    Message,
    QueueFull,
    close_message,
)

log = logging.getLogger("pyjinn.websocket")

# How long a guest has to finish once its connection has ended (at most its timeout).
CLOSE_GRACE = 1.0


class WebSocket:
    name = "websocket"

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        return grants.denial(permissions, call)

    def ws_upgrade(self, call: Call) -> None:
        connection = call.context.connection
        if connection is None:
            raise HostCallError(ErrorCode.INVALID, "this request is not a WebSocket upgrade")
        if connection.upgraded:
            raise HostCallError(ErrorCode.INVALID, "the connection was upgraded already")
        try:
            connection.accept(call.budget())
        except ConnectionClosed as error:
            raise HostCallError(ErrorCode.CLOSED, str(error)) from None
        _active(call, connection)

    def ws_read(self, call: Call, wait_ms: int) -> bytes:
        message = self._receive(call, wait_ms)
        return bytes((message.opcode,)) + message.data

    def ws_write(self, call: Call, opcode: int, data: tuple[int, int]) -> None:
        if opcode not in (TEXT, BINARY):
            raise HostCallError(
                ErrorCode.INVALID, f"opcode {opcode} is neither 1 (text) nor 2 (binary)"
            )
        connection = _connection(call)
        payload = call.read(data, connection.max_message, "a message (max_message)")
        if opcode == TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise HostCallError(ErrorCode.INVALID, "a text message must be UTF-8") from None
        self._send(call, connection, Message(opcode, payload))

    def ws_close(self, call: Call, code: int, reason: str) -> None:
        if code != NORMAL and not 3000 <= code <= 4999:
            raise HostCallError(
                ErrorCode.INVALID, f"close code {code} is neither 1000 nor from 3000 to 4999"
            )
        if len(reason.encode()) > MAX_REASON:
            raise HostCallError(
                ErrorCode.INVALID, f"a close reason is at most {MAX_REASON} bytes of UTF-8"
            )
        if not _connection(call).close(code, reason, by="function", tell=False):
            raise HostCallError(ErrorCode.CLOSED, "the connection is closed")

    # Gojinn's conventions.

    def host_ws_upgrade(self, call: Call) -> None:
        self.ws_upgrade(call)

    def host_ws_read(self, call: Call, out: tuple[int, int]) -> int:
        try:
            message = self._receive(call, -1)
        except HostCallError as error:
            if error.code == ErrorCode.CLOSED:
                return 0
            raise
        if message.opcode == CLOSE:
            return 0
        pointer, capacity = out
        if len(message.data) > capacity:
            connection = _connection(call)
            reason = f"message of {len(message.data)} bytes over the function's buffer"
            log.warning("host_ws_read: %s of %d bytes; closing the connection.", reason, capacity)
            connection.close(TOO_BIG, reason, by="too_big", tell=False)
            _ended(call)
            return 0
        assert call.memory is not None
        call.memory.write(pointer, message.data)
        return len(message.data)

    def host_ws_write(self, call: Call, message: tuple[int, int]) -> None:
        connection = _connection(call)
        payload = call.read(message, connection.max_message, "a message (max_message)")
        try:
            payload.decode("utf-8")
            opcode = TEXT
        except UnicodeDecodeError:
            opcode = BINARY  # a text frame must be UTF-8: other bytes go as a binary message
        self._send(call, connection, Message(opcode, payload))

    # Shared.

    @staticmethod
    def _receive(call: Call, wait_ms: int) -> Message:
        connection = _connection(call)
        context = call.context
        deadline = context.deadline_ns
        until = deadline if wait_ms < 0 else min(deadline, time.monotonic_ns() + wait_ms * 10**6)
        try:
            message = connection.receive(until)
        except ConnectionClosed as error:
            raise HostCallError(ErrorCode.CLOSED, str(error)) from None
        if message is None:
            if until < deadline:
                raise HostCallError(ErrorCode.NOT_FOUND, f"no message within {wait_ms} ms")
            # Idle for the whole timeout, or at max_duration: the host ends the connection.
            reaching_end = time.monotonic_ns() >= connection.ends_ns
            by, reason = (
                ("max_duration", "connection reached its max_duration")
                if reaching_end
                else ("idle", "idle timeout")
            )
            connection.close(GOING_AWAY, reason, by=by, tell=False)
            _ended(call)
            return close_message(GOING_AWAY, reason)
        if message.opcode == CLOSE:
            _ended(call)
        else:
            _active(call, connection)
        return message

    @staticmethod
    def _send(call: Call, connection: Connection, message: Message) -> None:
        context = call.context
        reserve = min(HOST_CALL_RESERVE, connection.idle_ns / 10e9)
        try:
            connection.send(message, context.deadline_ns - round(reserve * 1e9))
        except ConnectionClosed as error:
            raise HostCallError(ErrorCode.CLOSED, str(error)) from None
        except QueueFull as error:
            connection.close(POLICY, "client is not reading", by="not_reading", tell=True)
            raise HostCallError(
                ErrorCode.LIMIT, f"{error}; the connection is closed (1008)"
            ) from None
        _active(call, connection)


def _connection(call: Call) -> Connection:
    connection: Connection | None = call.context.connection
    if connection is None or not connection.upgraded:
        raise HostCallError(
            ErrorCode.INVALID, "there is no WebSocket connection: call ws_upgrade first"
        )
    return connection


def _active(call: Call, connection: Connection) -> None:
    """A message went by: the idle timeout starts again, never past max_duration."""
    deadline = min(time.monotonic_ns() + connection.idle_ns, connection.ends_ns)
    call.context.move_deadline(deadline)


def _ended(call: Call) -> None:
    """The connection has ended: the guest gets a short grace to finish."""
    context = call.context
    connection: Connection = context.connection
    grace = min(round(CLOSE_GRACE * 1e9), connection.idle_ns)
    context.move_deadline(time.monotonic_ns() + grace)
