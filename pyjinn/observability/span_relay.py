"""Spans exported from the admin process, not from the workers that record them.

Encoding a span as OTLP protobuf costs a worker about 40 µs of interpreter time, and making it
with the SDK about 25 µs more; the threads doing it hold the interpreter lock the event loop
needs, and with every request traced that, and the lock hand-overs it causes, cost more than
half of a hello's throughput. Under ``pyjinn up`` a worker therefore records its spans itself
(``Recorder``, ``RelaySpan``: a few µs a span) and a thread of its own writes them, as compact
records in a ``marshal`` frame, to a Unix socket the supervisor listens on before it forks
anyone. The admin process, which serves no requests, runs ``SpanRelay`` on that socket: it turns
each frame into SDK spans and exports them over OTLP with the endpoint and resource the worker
named, as the SDK in the worker would have.

The socket lives in the supervisor's private state directory (mode 0700), so only processes of
this ``pyjinn up`` can reach it. Nothing on the request path waits on it: a worker whose admin
process is gone or stuck gives up a frame after ``SEND_TIMEOUT`` and drops those spans (as the
SDK's batch processor drops spans it cannot queue), and connects again for the next one. A
frame that does not decode is logged and its connection closed; the relay serves the others.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import marshal
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("pyjinn.tracing")

SOCKET_NAME = "spans.sock"
SEND_TIMEOUT = 5.0  # seconds a worker's exporter waits for the admin process to take a frame
MAX_FRAME = 16 * 1024 * 1024  # bytes: far more than a batch of 512 spans
FORMAT = 1  # the frame layout below; a relay refuses frames of another
_LENGTH = struct.Struct("!I")
_MAX_PATH = 100  # bytes an AF_UNIX socket path may have here (the kernel's limit is 108)

# A frame: (FORMAT, endpoint or None, resource attributes, resource schema URL,
#           [span record, ...]), where a span record is
# (name, trace_id, span_id, trace_flags, parent span id or 0, parent trace id or 0,
#  parent is remote, kind, start ns, end ns, attributes, status code, status description,
#  scope name, scope version, events [(name, ns, attributes)], links [(trace_id, span_id,
#  trace_flags, is remote, attributes)]).


def socket_path(directory: Path) -> Path | None:
    """Where the relay of a supervisor whose state is in ``directory`` listens; None when that
    path is too long for a Unix socket (the workers then export spans themselves)."""
    path = directory / SOCKET_NAME
    return path if len(os.fsencode(path)) <= _MAX_PATH else None


def listen(path: Path) -> socket.socket:
    """The relay's listening socket at ``path`` (owner-only, like its directory)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(path))
        os.chmod(path, 0o600)
        sock.listen(64)
    except OSError:
        sock.close()
        raise
    return sock


# -- the worker's side --------------------------------------------------------------------------

# Span kinds and the unset status code as OpenTelemetry numbers them.
KIND_INTERNAL, KIND_SERVER = 0, 1
STATUS_UNSET = 0


class RelaySpan:
    """A span a worker records for the relay: the part of the SDK's span that pyjinn uses
    (attributes, status, end), at a fraction of its cost."""

    __slots__ = (
        "_recorder",
        "attributes",
        "description",
        "kind",
        "name",
        "parent_id",
        "parent_remote",
        "span_id",
        "start_time",
        "status_code",
        "trace_id",
    )

    def __init__(
        self,
        recorder: Recorder,
        name: str,
        trace_id: int,
        parent_id: int,
        parent_remote: bool,
        kind: int,
        attributes: dict[str, Any],
        start_time: int | None = None,
    ) -> None:
        self._recorder = recorder
        self.name = name
        self.trace_id = trace_id
        self.span_id = _new_id(64)
        self.parent_id = parent_id
        self.parent_remote = parent_remote
        self.kind = kind
        self.attributes = attributes
        self.start_time = time.time_ns() if start_time is None else start_time
        self.status_code = STATUS_UNSET
        self.description: str | None = None

    def child(self, name: str, attributes: dict[str, Any], start_time: int) -> RelaySpan:
        return RelaySpan(
            self._recorder,
            name,
            self.trace_id,
            self.span_id,
            False,
            KIND_INTERNAL,
            attributes,
            start_time,
        )

    def get_span_context(self) -> Any:
        from opentelemetry.trace import SpanContext, TraceFlags

        return SpanContext(self.trace_id, self.span_id, False, TraceFlags(TraceFlags.SAMPLED))

    def set_attribute(self, name: str, value: Any) -> None:
        self.attributes[name] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Any) -> None:
        """``status``: an OpenTelemetry ``Status``."""
        self.status_code = status.status_code.value
        self.description = status.description

    def end(self, end_time: int | None = None) -> None:
        self._recorder.add(
            (
                self.name,
                self.trace_id,
                self.span_id,
                1,  # sampled
                self.parent_id,
                self.trace_id if self.parent_id else 0,
                self.parent_remote,
                self.kind,
                self.start_time,
                time.time_ns() if end_time is None else end_time,
                self.attributes,
                self.status_code,
                self.description,
                "pyjinn",
                self._recorder.version,
                [],
                [],
            )
        )


def _new_id(bits: int) -> int:
    while True:  # zero is the invalid id
        value = random.getrandbits(bits)
        if value:
            return value


class Recorder:
    """A worker's spans on their way to the relay at ``path``, for the admin process to export
    to ``endpoint`` (None: the OTLP exporter's default, from the environment) as spans of
    ``resource`` (an SDK ``Resource``). Ended spans wait in a queue of at most ``MAX_QUEUED``
    (more are dropped); a thread sends them every ``FLUSH_INTERVAL``, ``MAX_BATCH`` a frame."""

    MAX_QUEUED = 2048
    MAX_BATCH = 512
    FLUSH_INTERVAL = 0.2  # seconds

    def __init__(self, path: Path, endpoint: str | None, resource: Any, version: str) -> None:
        self.path = path
        self.version = version
        self._head = (FORMAT, endpoint, dict(resource.attributes), resource.schema_url or "")
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._sock: socket.socket | None = None
        self._failures = 0  # frames dropped since the last warning
        self.dropped = 0  # spans dropped in all
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyjinn-span-sender", daemon=True)
        self._thread.start()

    def start(
        self,
        name: str,
        attributes: dict[str, Any],
        *,
        kind: int = KIND_SERVER,
        trace_id: int = 0,
        parent_id: int = 0,
        parent_remote: bool = False,
    ) -> RelaySpan:
        """A new span; without ``trace_id``, of a new trace."""
        return RelaySpan(
            self, name, trace_id or _new_id(128), parent_id, parent_remote, kind, attributes
        )

    def add(self, record: tuple[Any, ...]) -> None:
        if len(self._queue) >= self.MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.append(record)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Send what is queued and close the connection."""
        self._stop.set()
        self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _run(self) -> None:
        while not self._stop.wait(self.FLUSH_INTERVAL):
            self._send_queued()
        self._send_queued()

    def _send_queued(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), self.MAX_BATCH))]
            self._send(batch)

    def _send(self, batch: list[tuple[Any, ...]]) -> None:
        frame = marshal.dumps((*self._head, batch))
        for attempt in (1, 2):  # a connection the admin process closed is made again, once
            try:
                self._connection().sendall(_LENGTH.pack(len(frame)) + frame)
            except OSError as error:
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None
                if attempt == 2:
                    self._dropped(len(batch), error)
            else:
                if self._failures:
                    log.info("Spans reach the admin process again.")
                    self._failures = 0
                return

    def _connection(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(SEND_TIMEOUT)
            try:
                sock.connect(os.fspath(self.path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _dropped(self, count: int, error: OSError) -> None:
        self.dropped += count
        if self._failures == 0:
            log.warning(
                "Dropped %d span(s): the admin process, which exports them, cannot be reached "
                "at %s (%s).",
                count,
                self.path,
                error.strerror or error,
            )
        self._failures += 1


# -- the admin process's side -------------------------------------------------------------------


class SpanRelay:
    """Accepts workers on ``sock`` and exports what they send, a thread per connection.
    ``exporter_for(endpoint)`` makes the exporter of an endpoint (OTLP over HTTP by default).
    ``shared``: other processes hold ``sock`` too (the supervisor, for the next admin process),
    so closing the relay must leave it listening."""

    def __init__(
        self,
        sock: socket.socket,
        exporter_for: Callable[[str | None], Any] | None = None,
        *,
        shared: bool = False,
    ) -> None:
        self._sock = sock
        self._shared = shared
        self._exporter_for = exporter_for or _otlp_exporter
        self._exporters: dict[str | None, Any] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._connections = 0  # workers connected now
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._accept, name="pyjinn-span-relay", daemon=True)

    def start(self) -> SpanRelay:
        self._thread.start()
        return self

    def close(self, wait: float = 0.0) -> None:
        """Stop accepting; wait up to ``wait`` seconds for the connected workers to hang up
        (stopping, they send their last spans first); then shut the exporters down."""
        self._closed = True
        if not self._shared:  # wakes the accepting thread; on a shared socket, it would stop
            with contextlib.suppress(OSError):  # the others listening too
                self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with self._lock:
            self._idle.wait_for(lambda: self._connections == 0, timeout=wait)
            exporters, self._exporters = list(self._exporters.values()), {}
        for exporter in exporters:
            exporter.shutdown()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._sock.accept()
            except OSError:
                if self._closed:
                    return
                continue
            with self._lock:
                self._connections += 1
            threading.Thread(
                target=self._serve, args=(connection,), name="pyjinn-span-relay", daemon=True
            ).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self._relay(connection)
        finally:
            connection.close()
            with self._lock:
                self._connections -= 1
                self._idle.notify_all()

    def _relay(self, connection: socket.socket) -> None:
        while True:
            try:
                frame = _read_frame(connection)
                if frame is None:
                    return  # the worker closed its end
                endpoint, spans = decode(frame)
            except (OSError, ValueError) as error:
                log.warning("Closed a worker's span connection: %s.", error)
                return
            try:
                self._exporter(endpoint).export(spans)
            except Exception:  # an exporter's bug must not stop the relay
                log.exception("Could not export %d span(s) to %s.", len(spans), endpoint)

    def _exporter(self, endpoint: str | None) -> Any:
        with self._lock:
            exporter = self._exporters.get(endpoint)
            if exporter is None:
                exporter = self._exporters[endpoint] = self._exporter_for(endpoint)
            return exporter


def _otlp_exporter(endpoint: str | None) -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint)


def _read_frame(connection: socket.socket) -> bytes | None:
    head = _read_exactly(connection, _LENGTH.size)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes (at most {MAX_FRAME})")
    body = _read_exactly(connection, length)
    if body is None:
        raise ValueError("the connection ended inside a frame")
    return body


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = connection.recv(min(remaining, 1 << 20))
        if not chunk:
            if remaining == size:
                return None
            raise ValueError("the connection ended inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def decode(frame: bytes) -> tuple[str | None, list[Any]]:
    """(endpoint, SDK spans) of a frame; raises ValueError for anything but a frame of
    ``FORMAT`` (its records are checked as the SDK objects are built from them)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    try:
        version, endpoint, attributes, schema_url, records = marshal.loads(frame)
        if version != FORMAT:
            raise ValueError(f"frame format {version!r}, expected {FORMAT}")
        if endpoint is not None and not isinstance(endpoint, str):
            raise ValueError("the endpoint is not a string")
        resource = Resource(attributes, schema_url or None)
        spans = []
        for (
            name,
            trace_id,
            span_id,
            flags,
            parent_id,
            parent_trace,
            parent_remote,
            kind,
            start,
            end,
            span_attributes,
            code,
            description,
            scope_name,
            scope_version,
            events,
            links,
        ) in records:
            parent = (
                SpanContext(parent_trace, parent_id, is_remote=parent_remote) if parent_id else None
            )
            spans.append(
                ReadableSpan(
                    name=name,
                    context=SpanContext(trace_id, span_id, False, TraceFlags(flags)),
                    parent=parent,
                    resource=resource,
                    # None is no attribute value in OpenTelemetry: the SDK drops such an
                    # attribute, and the OTLP encoder would refuse the whole batch for it.
                    attributes={k: v for k, v in span_attributes.items() if v is not None},
                    events=[Event(n, a, timestamp=t) for n, t, a in events],
                    links=[Link(SpanContext(t, s, r, TraceFlags(f)), a) for t, s, f, r, a in links],
                    kind=SpanKind(kind),
                    status=Status(StatusCode(code), description),
                    start_time=start,
                    end_time=end,
                    instrumentation_scope=InstrumentationScope(scope_name, scope_version or None),
                )
            )
    except ValueError:
        raise
    except Exception as error:  # EOFError, TypeError, unpacking: not a frame we wrote
        raise ValueError(
            f"a frame that does not decode ({type(error).__name__}: {error})"
        ) from None
    return endpoint, spans
