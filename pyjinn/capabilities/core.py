"""The core capability, granted to every function: logging and reading results and errors."""

from __future__ import annotations

import logging
from typing import Any

from pyjinn.abi import ErrorCode
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import Permissions
from pyjinn.observability.guest_logs import emit_log_call

MAX_LOG_MESSAGE = 4096
_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


class Core:
    name = "core"

    def authorize(self, permissions: Permissions, call: str, arguments: tuple[Any, ...]) -> None:
        return None

    def log(self, call: Call, level: int, message: bytes) -> None:
        if level not in _LEVELS:
            raise HostCallError(ErrorCode.INVALID, f"log level {level} is not 0, 1, 2 or 3")
        self._emit(call, _LEVELS[level], message)

    def host_log(self, call: Call, level: int, message: bytes) -> None:
        # Gojinn maps 3 to error and everything else to info.
        self._emit(call, logging.ERROR if level == 3 else logging.INFO, message)

    def result_read(self, call: Call, buffer: tuple[int, int]) -> int:
        pending = call.context.pending
        if pending is None:
            raise HostCallError(ErrorCode.INVALID, "there is no pending result to read")
        pointer, capacity = buffer
        if capacity < len(pending):
            raise HostCallError(
                ErrorCode.INVALID,
                f"buffer of {capacity} bytes is too small for the {len(pending)}-byte result",
            )
        assert call.memory is not None
        call.memory.write(pointer, pending)
        call.context.pending = None
        return len(pending)

    def error_read(self, call: Call, buffer: tuple[int, int]) -> int:
        message = call.context.last_error.encode()
        pointer, capacity = buffer
        if capacity == 0:
            return len(message)
        assert call.memory is not None
        copied = message[:capacity]  # a diagnostic: a short buffer gets the start of it
        call.memory.write(pointer, copied)
        return len(copied)

    @staticmethod
    def _emit(call: Call, level: int, message: bytes) -> None:
        text = message[:MAX_LOG_MESSAGE].decode("utf-8", "replace")
        if len(message) > MAX_LOG_MESSAGE:
            text += f" [cut: {len(message)} bytes, at most {MAX_LOG_MESSAGE} are logged]"
        context = call.context
        function = context.host.function if context.host else ""
        emit_log_call(function, context.trace_id, context.tenant, level, text)
