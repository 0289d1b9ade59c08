"""Spans handed from a worker to the admin process for export (``pyjinn.observability.span_relay``):
in-process with the SDK, and through a real ``pyjinn up`` to an OTLP/HTTP receiver.

The receiver in the live test is a small HTTP server that decodes OTLP protobuf with the
OpenTelemetry proto package: no OpenTelemetry Collector can be installed on this machine."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pyjinn.config.model import Tracing
from pyjinn.observability import tracing
from pyjinn.observability.span_relay import Recorder, SpanRelay, listen
from tests.server.test_live import start, wait_until

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT = 0x00F067AA0BA902B7


class Captured:
    """An exporter factory for the relay that keeps what each endpoint's exporter gets."""

    def __init__(self) -> None:
        self.spans: dict[str | None, list[Any]] = {}
        self.shut_down: list[str | None] = []

    def __call__(self, endpoint: str | None) -> Any:
        captured = self

        class Exporter:
            def export(self, spans: Any) -> SpanExportResult:
                captured.spans.setdefault(endpoint, []).extend(spans)
                return SpanExportResult.SUCCESS

            def shutdown(self) -> None:
                captured.shut_down.append(endpoint)

        return Exporter()

    def wait(self, endpoint: str | None, count: int) -> list[Any]:
        wait_until(lambda: len(self.spans.get(endpoint, [])) >= count, timeout=5)
        return self.spans[endpoint]


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Path, Captured, SpanRelay]]:
    path = tmp_path / "spans.sock"
    captured = Captured()
    running = SpanRelay(listen(path), captured).start()
    yield path, captured, running
    running.close()


def trace_one_invocation() -> str:
    """What an invocation does with tracing: its span under the caller's trace, a host-call
    span and token counts from its guest thread, then its end as a failure; its trace id."""
    traceparent = f"00-{TRACE:032x}-{PARENT:016x}-01"
    span, trace_id = tracing.start_invocation("hello", traceparent, "GET", "/hello")

    def guest() -> None:
        tracing.host_call_span("kv", "get", 0.001, "not_found")
        tracing.add_to_invocation({"gen_ai.usage.input_tokens": 5})
        tracing.add_to_invocation({"gen_ai.usage.input_tokens": 2})

    tracing.GuestThreadSpan(span, guest)()
    tracing.finish_invocation(
        span,
        outcome="trap",
        blame="guest",
        status=502,
        tenant="acme",
        fuel=7,
        memory=65536,
        detail="unreachable",
    )
    assert trace_id is not None
    return trace_id


def summary(spans: list[Any]) -> list[tuple[Any, ...]]:
    """What matters of each span, with the ids that vary from run to run replaced by their
    role; sorted by name."""
    by_id = {span.context.span_id: span.name for span in spans}
    return sorted(
        (
            span.name,
            span.kind,
            f"{span.context.trace_id:032x}",
            by_id.get(span.parent.span_id, f"{span.parent.span_id:016x}"),
            span.parent.is_remote,
            dict(span.attributes),
            span.status.status_code,
            span.status.description,
            dict(span.resource.attributes),
            span.instrumentation_scope.name,
            span.instrumentation_scope.version,
            span.end_time >= span.start_time > 0,
        )
        for span in spans
    )


def test_spans_through_the_relay_are_the_spans_the_sdk_makes(relay) -> None:
    path, captured, _ = relay
    sdk = InMemorySpanExporter()
    provider = tracing.new_provider({})
    provider.add_span_processor(SimpleSpanProcessor(sdk))
    tracing.install(provider)
    try:
        assert trace_one_invocation() == f"{TRACE:032x}"
    finally:
        tracing.shutdown()

    option = Tracing(mode="otlp", endpoint="http://collector:4318", sample=1.0)
    assert tracing.configure(option, {}, relay=path)
    try:
        assert trace_one_invocation() == f"{TRACE:032x}"
    finally:
        tracing.shutdown()  # sends what is queued
    received = captured.wait("http://collector:4318/v1/traces", 2)

    expected = summary(list(sdk.get_finished_spans()))
    assert summary(received) == expected
    assert [row[:4] for row in expected] == [
        ("invoke hello", SpanKind.SERVER, f"{TRACE:032x}", f"{PARENT:016x}"),
        ("kv.get", SpanKind.INTERNAL, f"{TRACE:032x}", "invoke hello"),
    ]
    assert expected[0][5]["gen_ai.usage.input_tokens"] == 7
    # The admin process's exporter encodes them as it would the SDK's own.
    assert len(encode_spans(received).SerializeToString()) > 0


def test_a_new_trace_gets_fresh_ids_and_the_guest_its_trace_id(relay) -> None:
    path, _, _ = relay
    assert tracing.configure(Tracing(mode="otlp", sample=1.0), {}, relay=path)
    try:
        started = [tracing.start_invocation("hello", None, "GET", "/") for _ in range(50)]
    finally:
        tracing.shutdown()
    ids = {trace_id for _, trace_id in started}
    assert len(ids) == 50
    assert all(f"{span.trace_id:032x}" == trace_id for span, trace_id in started)


def recorder_to(path: Path, endpoint: str | None = None) -> Recorder:
    return Recorder(path, endpoint, tracing.new_resource({}), "1.0")


def record(recorder: Recorder, name: str) -> None:
    recorder.start(name, {}).end()


def test_a_worker_whose_admin_process_is_gone_drops_spans_then_reconnects(
    tmp_path: Path, caplog
) -> None:
    path = tmp_path / "spans.sock"
    recorder = recorder_to(path)
    try:
        with caplog.at_level(logging.WARNING, logger="pyjinn.tracing"):
            record(recorder, "lost")
            wait_until(lambda: recorder.dropped == 1, timeout=5)
            record(recorder, "lost too")
            wait_until(lambda: recorder.dropped == 2, timeout=5)
        warnings = [r.getMessage() for r in caplog.records if "Dropped" in r.getMessage()]
        assert len(warnings) == 1 and "cannot be reached" in warnings[0]  # once, not per frame

        captured = Captured()
        relay = SpanRelay(listen(path), captured).start()
        try:
            record(recorder, "found")
            assert [s.name for s in captured.wait(None, 1)] == ["found"]
        finally:
            relay.close()
    finally:
        recorder.shutdown()


def test_an_attribute_without_a_value_is_dropped_not_the_batch(relay) -> None:
    path, captured, _ = relay
    recorder = recorder_to(path)
    try:
        recorder.start("invoke hello", {"pyjinn.blame": None, "pyjinn.fuel_consumed": 3}).end()
        (received,) = captured.wait(None, 1)
    finally:
        recorder.shutdown()
    assert dict(received.attributes) == {"pyjinn.fuel_consumed": 3}
    assert len(encode_spans([received]).SerializeToString()) > 0


def test_a_worker_keeps_at_most_a_bounded_queue_of_spans(tmp_path: Path) -> None:
    recorder = recorder_to(tmp_path / "nobody.sock")
    recorder.shutdown()  # nothing sends any more: every span stays queued
    for _ in range(Recorder.MAX_QUEUED + 10):
        record(recorder, "x")
    assert recorder.dropped == 10


@pytest.mark.parametrize(
    "frame",
    [
        struct.pack("!I", 5) + b"\xff\xfe\x00zz",  # not marshal
        struct.pack("!I", 0xFFFFFFFF),  # longer than any frame may be
        struct.pack("!I", 3) + b"N",  # ends inside the frame
        struct.pack("!I", 1) + b"N",  # marshal's None: not a frame
    ],
)
def test_a_frame_that_does_not_decode_closes_only_its_connection(relay, frame, caplog) -> None:
    path, captured, _ = relay
    bad = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bad.connect(str(path))
    with caplog.at_level(logging.WARNING, logger="pyjinn.tracing"):
        bad.sendall(frame)
        if frame.endswith(b"N") and len(frame) == 5:  # a short frame: the sender hangs up
            bad.shutdown(socket.SHUT_WR)
        bad.settimeout(5)
        assert bad.recv(1) == b""  # the relay closed it
        bad.close()
    assert any("Closed a worker's span connection" in r.getMessage() for r in caplog.records)
    recorder = recorder_to(path)
    try:
        record(recorder, "still served")
        assert [s.name for s in captured.wait(None, 1)] == ["still served"]
    finally:
        recorder.shutdown()


def test_closing_waits_for_connected_workers_then_shuts_the_exporters_down(relay) -> None:
    path, captured, running = relay
    recorder = recorder_to(path, "e")
    record(recorder, "last")
    captured.wait("e", 1)
    threading.Timer(0.3, recorder.shutdown).start()  # the worker hangs up a little later
    started = time.monotonic()
    running.close(wait=5)
    assert 0.2 < time.monotonic() - started < 4
    assert captured.shut_down == ["e"]


# -- through pyjinn up --------------------------------------------------------------------------


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver on a random loopback port that keeps the spans it decodes."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.spans: list[Any] = []
        self.resources: list[dict[str, str]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append(span)
                    self.server.resources.append(attributes)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.slow
def test_under_pyjinn_up_the_admin_process_exports_each_workers_spans(
    tmp_path: Path, project, c_guest
) -> None:
    project("mirror.wasm", c_guest("mirror"))
    receiver = Receiver()
    site = f"""
        tracing otlp http://127.0.0.1:{receiver.server_port} {{
            sample 1
        }}
    """
    server = start(
        tmp_path,
        ":PORT {\n handle /mirror/* {\n  pyjinn mirror.wasm\n }\n}\n",
        workers=2,
        options=site,
    )
    try:
        traceparent = f"00-{TRACE:032x}-{PARENT:016x}-01"
        with httpx.Client() as client:
            for _ in range(20):
                answer = client.get(f"{server.url}/mirror/x", headers={"traceparent": traceparent})
                assert answer.status_code == 200
        wait_until(lambda: len(receiver.spans) >= 20, timeout=15)
        invocations = [s for s in receiver.spans if s.name == "invoke mirror"]
        assert len(invocations) == 20
        assert {s.trace_id.hex() for s in invocations} == {f"{TRACE:032x}"}
        assert {s.parent_span_id.hex() for s in invocations} == {f"{PARENT:016x}"}
        assert all(r["service.name"] == "pyjinn" for r in receiver.resources)
    finally:
        server.stop()
        receiver.shutdown()
        receiver.server_close()
    log = server.log.read_text()
    assert "from the admin process" in log  # each worker says where its spans go
    assert "Dropped" not in log
