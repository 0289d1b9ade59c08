"""The access log's fast path: one line per invocation, written in batches.

Every invocation leaves an access record, so its cost is paid on every request. Through the
``logging`` module a record costs a LogRecord, a handler lock, a formatter and a write system
call per line: about a third of a small function's throughput. When ``pyjinn up`` configures
logging it installs an :class:`AccessWriter` instead, which renders the same line (the same JSON
keys as :class:`pyjinn.logs.JsonFormatter`, or the same readable form) with one f-string and
appends it to a buffer that is written out at most every ``FLUSH_SECONDS`` or every
``MAX_BUFFERED`` lines, on the event loop that served the requests. Embedded pyjinn
(``create_app``) keeps using the ``pyjinn.access`` logger. Where a log tap is installed
(``pyjinn.observability.log_tap``, for ``pyjinn logs``), every batch goes there too, as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

from pyjinn.observability import log_tap

FLUSH_SECONDS = 0.2
MAX_BUFFERED = 256

_quote = json.JSONEncoder(ensure_ascii=False).encode


class AccessWriter:
    """Renders access records and writes them to a file descriptor in batches."""

    def __init__(self, *, as_json: bool, fd: int = 2) -> None:
        self._json = as_json
        self._fd = fd
        self._lines: list[str] = []
        self._tapped: list[str] = []  # JSON lines for the log tap, when the console gets others
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def record(
        self,
        *,
        function: str,
        tenant: str,
        trace_id: str,
        method: str,
        path: str,
        status: int,
        duration_ms: float,
        outcome: str,
        blame: str | None,
        fuel: int,
        memory: int,
        route: str | None = None,
    ) -> None:
        """``route`` says how the function was chosen (routing by meaning), when it was."""
        now = time.time()
        message = f"{method} {path} {status} {duration_ms:.2f}ms"
        tapped = log_tap.tap is not None
        if self._json or tapped:
            second = int(now)
            if second != self._second:
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
                self._second = second
            millis = int((now - second) * 1000)
            line = (
                f'{{"time":"{self._stamp}.{millis:03d}Z","level":"info","logger":"pyjinn.access",'
                f'"message":{_quote(message)},"function":"{function}","tenant":"{tenant}",'
                f'"trace_id":"{trace_id}","method":{_quote(method)},"path":{_quote(path)},'
                f'"status":{status},"duration_ms":{round(duration_ms, 3)},"outcome":"{outcome}",'
                f'"blame":{_quote(blame) if blame else "null"},"fuel":{fuel},'
                f'"memory_bytes":{memory}'
                + (f',"route":{_quote(route)}' if route is not None else "")
                + "}\n"
            )
            if not self._json:
                self._tapped.append(line)
        if not self._json:
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            line = (
                f"{stamp} INFO    {message}  function={function} tenant={tenant} "
                f"trace_id={trace_id} outcome={outcome} blame={blame} fuel={fuel} "
                f"memory_bytes={memory}"
                + (f" route={_quote(route)}" if route is not None else "")
                + "\n"
            )
        self._lines.append(line)
        if len(self._lines) >= MAX_BUFFERED:
            self.flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # not on an event loop: write at once
                self.flush()

    def flush(self) -> None:
        """Write out every buffered line."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        data = "".join(self._lines).encode("utf-8", "replace")
        self._lines.clear()
        tap = log_tap.tap
        if tap is not None:
            tap.write("".join(self._tapped).encode("utf-8", "replace") if self._tapped else data)
            self._tapped.clear()
        with contextlib.suppress(OSError):  # a closed stderr must not fail a request
            while data:
                written = os.write(self._fd, data)
                data = data[written:]


# Installed by pyjinn.logs.configure; None means "use the pyjinn.access logger".
writer: AccessWriter | None = None


def install(as_json: bool) -> None:
    global writer
    writer = AccessWriter(as_json=as_json)


def uninstall() -> None:
    global writer
    if writer is not None:
        writer.flush()
    writer = None
