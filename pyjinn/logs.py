"""Structured logs: one JSON object per line for machines, readable lines on a terminal.

Records carry context as attributes set through ``extra`` (function, tenant, trace_id, blame,
...); both formatters print every such attribute, so a log call never has to format them itself.
A record logged while a guest runs (by a host call, a capability, a backend) gets the
invocation's function, tenant and trace id added by :class:`InvocationContextFilter`.

Every invocation writes an access record, so formatting is on the request path: the JSON
formatter renders the timestamp once per second and skips the standard attributes by set
lookup, and :func:`configure` turns off the record attributes nobody prints (process and
thread names, the caller's source line).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from pyjinn.engine import context as invocation_context
from pyjinn.observability import access_log as access_log_writer

# Attributes every LogRecord has; anything else on a record was passed through ``extra``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


_encode = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...context}`` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per record
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        document: dict[str, Any] = {
            "time": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return _encode(document)


_COLOURS = {"DEBUG": "2", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 INFO  message  key=value ...`` for people reading a terminal; with
    ``colour``, the level is coloured and the context dimmed (ANSI escapes)."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        context = " ".join(f"{key}={value}" for key, value in _context(record).items())
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"\033[{_COLOURS.get(record.levelname, '0')}m{level}\033[0m"
            context = f"\033[2m{context}\033[0m" if context else ""
        line = f"{stamp} {level} {record.getMessage()}"
        if context:
            line = f"{line}  {context}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class InvocationContextFilter(logging.Filter):
    """Adds the function, tenant and trace id of the invocation running on this thread (a guest
    thread, inside a host call) to records that do not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        running = getattr(invocation_context._local, "context", None)
        if running is not None:
            attributes = record.__dict__
            if "function" not in attributes and running.host is not None:
                attributes["function"] = running.host.function
            if "tenant" not in attributes and running.tenant:
                attributes["tenant"] = running.tenant
            if "trace_id" not in attributes and running.trace_id:
                attributes["trace_id"] = running.trace_id
        return True


def configure(log_format: str = "auto", level: str = "info", *, access_log: bool = True) -> None:
    """Send pyjinn's logs (and the ASGI server's) to stderr in the chosen format; without
    ``access_log``, invocations leave no record unless they fail."""
    use_json = log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())
    # Attributes neither formatter prints; computing them costs more than formatting a record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no stack walk for the caller's file and line
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if use_json else ConsoleFormatter(colour=sys.stderr.isatty())
    )
    handler.addFilter(InvocationContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log and start-up chatter duplicate ours; its warnings and errors stay.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("pyjinn.access").setLevel(logging.INFO if access_log else logging.WARNING)
    if access_log:
        access_log_writer.install(as_json=use_json)
    else:
        access_log_writer.uninstall()
    if root.level > logging.DEBUG:
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
