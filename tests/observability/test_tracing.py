"""Spans captured with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pyjinn.config.model import Tracing
from pyjinn.observability import tracing
from tests.helpers import PYJINN_IMPORTS, abi_guest, wat_trapping
from tests.observability.guests import logged

pytestmark = pytest.mark.anyio

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider({})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    return exporter


@pytest.fixture
def client(make_client, project, c_guest):
    project("mirror.wasm", c_guest("mirror"))
    project("logs.wat", abi_guest(PYJINN_IMPORTS, [logged(1, 0, 3), logged(2, 0, 3)], {0: "one"}))
    project("trap.wat", wat_trapping("unreachable"))
    return make_client(
        """
        :8080 {
            handle /mirror/* {
                pyjinn mirror.wasm
            }
            handle /logs {
                pyjinn logs.wat
            }
            handle /trap {
                pyjinn trap.wat
            }
        }
        """
    )


async def test_an_invocation_span_continues_the_incoming_trace_with_host_call_children(
    spans, client
) -> None:
    response = await client.get("/logs", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert response.status_code == 200
    finished = spans.get_finished_spans()
    (invocation,) = [span for span in finished if span.name == "invoke logs"]
    children = [span for span in finished if span.parent == invocation.context]
    assert invocation.context.trace_id == int(TRACE, 16)
    assert invocation.parent.span_id == int(PARENT, 16) and invocation.parent.is_remote
    assert invocation.kind is SpanKind.SERVER
    assert invocation.attributes["pyjinn.function"] == "logs"
    assert invocation.attributes["pyjinn.tenant"] == "default"
    assert invocation.attributes["pyjinn.outcome"] == "ok"
    assert invocation.attributes["pyjinn.fuel_consumed"] > 0
    assert invocation.attributes["pyjinn.memory_bytes"] == 2 * 65536
    assert invocation.attributes["http.response.status_code"] == 200
    assert [child.name for child in children] == ["core.log", "core.log"]
    assert all(child.attributes["pyjinn.result"] == "ok" for child in children)
    assert all(invocation.start_time <= child.start_time <= child.end_time for child in children)
    assert all(child.end_time <= invocation.end_time for child in children)


async def test_the_guest_gets_the_trace_id_of_its_span(spans, client) -> None:
    continued = await client.get(
        "/mirror/envelope", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
    )
    assert continued.json()["trace_id"] == TRACE
    fresh = await client.get("/mirror/envelope")
    (span,) = [s for s in spans.get_finished_spans() if s.parent is None]
    assert fresh.json()["trace_id"] == f"{span.context.trace_id:032x}"


async def test_a_caller_that_did_not_sample_gets_no_span_but_keeps_its_trace_id(
    spans, client
) -> None:
    response = await client.get(
        "/mirror/envelope", headers={"traceparent": f"00-{TRACE}-{PARENT}-00"}
    )
    assert response.json()["trace_id"] == TRACE
    assert spans.get_finished_spans() == ()


async def test_a_failed_invocation_span_carries_its_blame_and_error_status(spans, client) -> None:
    response = await client.get("/trap")
    assert response.status_code == 502
    (span,) = spans.get_finished_spans()
    assert span.attributes["pyjinn.outcome"] == "trap"
    assert span.attributes["pyjinn.blame"] == "guest"
    assert span.status.status_code is StatusCode.ERROR
    assert response.json()["trace_id"] == f"{span.context.trace_id:032x}"


async def test_sampling_zero_records_no_new_trace(client) -> None:
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider({})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, ratio=0.0)
    await client.get("/mirror/envelope")
    assert exporter.get_finished_spans() == ()
    await client.get("/mirror/envelope", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    assert len(exporter.get_finished_spans()) == 1  # the caller's decision wins


async def test_without_configuration_tracing_is_off_and_makes_no_span(client) -> None:
    assert not tracing.configure(Tracing(), environ={})
    assert not tracing.enabled
    response = await client.get(
        "/mirror/envelope", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"}
    )
    assert response.json()["trace_id"] == TRACE


def test_configuration_by_option_and_environment() -> None:
    assert tracing.configure(Tracing(mode="otlp", endpoint="http://127.0.0.1:1"), environ={})
    assert tracing.enabled
    assert not tracing.configure(Tracing(mode="off"), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})
    assert tracing.configure(Tracing(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})
    assert not tracing.configure(
        Tracing(), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"}
    )
    assert not tracing.configure(
        Tracing(mode="otlp"), {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    )
    tracing.shutdown()
    assert not tracing.enabled
