"""What each invocation leaves: the access record, Server-Timing, and the debug header."""

from __future__ import annotations

import json
import logging

import pytest

from pyjinn.observability.invocations import MAX_LOGS_HEADER
from tests.helpers import PYJINN_IMPORTS, abi_guest, wat_trapping
from tests.observability.guests import logged, wat_with_stderr

pytestmark = pytest.mark.anyio

SECRET = "a-debug-secret-0123456789"


@pytest.fixture
def client(make_client, project, c_guest, monkeypatch):
    project("mirror.wasm", c_guest("mirror"))
    project("behave.wasm", c_guest("behave"))
    project("noisy.wat", wat_with_stderr("first line\nsecond \u00e9 line\n"))
    project("logs.wat", abi_guest(PYJINN_IMPORTS, [logged(1, 0, 9)], {0: "from log\n"}))
    project("trap.wat", wat_trapping("unreachable"))
    return make_client(
        f"""
        :8080 {{
            handle /noisy {{
                pyjinn noisy.wat {{
                    debug_secret {SECRET}
                }}
            }}
            handle /logs {{
                pyjinn logs.wat {{
                    debug_secret {SECRET}
                }}
            }}
            handle /mirror/* {{
                pyjinn mirror.wasm {{
                    debug_secret {SECRET}
                }}
            }}
            handle /behave {{
                pyjinn behave.wasm {{
                    debug_secret {SECRET}
                }}
            }}
            handle /open {{
                pyjinn noisy.wat {{
                    name open
                }}
            }}
            handle /trap {{
                pyjinn trap.wat
            }}
        }}
        """
    )


async def test_the_debug_secret_returns_the_guests_log_lines(client) -> None:
    response = await client.get("/noisy", headers={"X-Pyjinn-Debug": SECRET})
    assert json.loads(response.headers["x-pyjinn-logs"]) == ["first line", "second \u00e9 line"]
    assert response.headers["x-pyjinn-logs"].isascii()
    # Gojinn's header asks, and the logs come back in Gojinn's header.
    logs = await client.get("/logs", headers={"X-Gojinn-Debug": SECRET})
    assert json.loads(logs.headers["x-gojinn-logs"]) == ["from log\n"]
    assert "x-pyjinn-logs" not in logs.headers


async def test_without_the_right_secret_nothing_leaks(client) -> None:
    for headers in ({}, {"X-Pyjinn-Debug": "wrong"}, {"X-Pyjinn-Debug": SECRET[:-1]}):
        response = await client.get("/noisy", headers=headers)
        assert response.status_code == 200
        assert "x-pyjinn-logs" not in response.headers
    # A function without a debug secret ignores the header altogether.
    response = await client.get("/open", headers={"X-Pyjinn-Debug": SECRET})
    assert "x-pyjinn-logs" not in response.headers


async def test_the_guest_never_sees_a_debug_header(client) -> None:
    for value in (SECRET, "wrong"):
        response = await client.get("/mirror/envelope", headers={"X-Pyjinn-Debug": value})
        seen = response.json()["headers"]
        assert "X-Pyjinn-Debug" not in seen
        assert SECRET not in response.text


async def test_the_logs_header_is_capped_and_says_what_it_left_out(client) -> None:
    response = await client.get("/behave?stderr_mb=1", headers={"X-Pyjinn-Debug": SECRET})
    header = response.headers["x-pyjinn-logs"]
    assert len(header) <= MAX_LOGS_HEADER
    lines = json.loads(header)
    assert lines[0] == "behave: starting"
    assert lines[-1].startswith("... ") and lines[-1].endswith(" more line(s) not shown")
    shown = len(lines) - 1
    assert int(lines[-1].split()[1]) == 1 + 1024 - shown  # "starting" and 1024 lines of e


async def test_failures_get_debug_logs_too(client) -> None:
    response = await client.get("/behave?exit=3", headers={"X-Pyjinn-Debug": SECRET})
    assert response.status_code == 502
    assert json.loads(response.headers["x-pyjinn-logs"]) == [
        "behave: starting",
        "behave: exiting with 3",
    ]


async def test_server_timing_splits_wasm_and_host_call_time(client) -> None:
    response = await client.get("/logs")
    parts = dict(
        part.strip().split(";dur=") for part in response.headers["server-timing"].split(",")
    )
    assert set(parts) == {"wasm", "host", "total"}
    assert float(parts["host"]) > 0
    assert float(parts["wasm"]) + float(parts["host"]) <= float(parts["total"])
    refused = await client.get("/trap")
    assert "wasm;dur=" in refused.headers["server-timing"]


async def test_every_invocation_leaves_one_access_record(client, caplog) -> None:
    caplog.set_level(logging.INFO)
    ok = await client.get(
        "/noisy?x=1", headers={"traceparent": "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"}
    )
    failed = await client.get("/trap")
    access = [record for record in caplog.records if record.name == "pyjinn.access"]
    assert len(access) == 2
    first, second = access
    assert (first.method, first.path, first.status, first.outcome) == ("GET", "/noisy", 200, "ok")
    assert first.trace_id == "ab" * 16 and first.function == "noisy" and first.tenant == "default"
    assert first.blame is None and first.fuel > 0 and first.memory_bytes == 65536
    assert first.duration_ms > 0
    assert (second.status, second.outcome, second.blame) == (502, "trap", "guest")
    assert second.trace_id == failed.json()["trace_id"]
    assert ok.status_code == 200
    guest = [r for r in caplog.records if r.name == "pyjinn.guest" and r.function == "noisy"]
    assert [r.getMessage() for r in guest] == ["first line", "second \u00e9 line"]
    assert all(r.trace_id == "ab" * 16 and r.tenant == "default" for r in guest)


def test_the_fast_access_writer_renders_the_json_formatters_fields() -> None:
    import json as json_module
    import os

    from pyjinn.logs import JsonFormatter
    from pyjinn.observability.access_log import AccessWriter

    read, write = os.pipe()
    writer = AccessWriter(as_json=True, fd=write)
    writer.record(
        function="fn",
        tenant="acme",
        trace_id="ab" * 16,
        method="GET",
        path='/a "quoted" path',
        status=502,
        duration_ms=1.23456,
        outcome="trap",
        blame="guest",
        fuel=7,
        memory=65536,
    )
    writer.flush()
    os.close(write)
    line = os.read(read, 65536).decode()
    os.close(read)
    record = json_module.loads(line)
    assert record["logger"] == "pyjinn.access"
    assert record["message"] == 'GET /a "quoted" path 502 1.23ms'
    assert {key: record[key] for key in ("function", "tenant", "status", "outcome", "blame")} == {
        "function": "fn",
        "tenant": "acme",
        "status": 502,
        "outcome": "trap",
        "blame": "guest",
    }
    assert (record["path"], record["duration_ms"], record["fuel"]) == ('/a "quoted" path', 1.235, 7)
    # The same keys, in the same order, as a record through the logging module would have.
    standard = json_module.loads(JsonFormatter().format(_logged_access_record()))
    assert list(record) == list(standard)


def _logged_access_record():
    import logging

    record = logging.makeLogRecord(
        {
            "name": "pyjinn.access",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "m",
            "function": "fn",
            "tenant": "acme",
            "trace_id": "t",
            "method": "GET",
            "path": "/",
            "status": 200,
            "duration_ms": 1.0,
            "outcome": "ok",
            "blame": None,
            "fuel": 1,
            "memory_bytes": 1,
        }
    )
    return record
