"""The supervisor under faults: restarted workers serve the accepted release, a worker that
cannot start never takes the serving ones down, and stopping refuses late clients at once."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wasmtime

from pyjinn.signing import generate_key_files, read_signing_key, sign_file
from tests.helpers import wat_writing
from tests.server.test_live import Server, pid_alive, start, wait_until

pytestmark = pytest.mark.slow


def answer(text: str) -> str:
    return wat_writing(f'{{"body":"{text}"}}')


def digest_of(text: str) -> str:
    return hashlib.sha256(wasmtime.wat2wasm(answer(text))).hexdigest()


SITE = """
:PORT {
    handle /fn {
        pyjinn fn.wasm SECURITY
    }
}
"""


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def write_module(directory: Path, text: str, key: Path | None = None) -> Path:
    path = directory / "fn.wasm"
    path.write_bytes(bytes(wasmtime.wat2wasm(answer(text))))
    if key is not None:
        sign_file(path, read_signing_key(key))
    return path


def replace_worker(server: Server, pid: int) -> None:
    """Kill worker ``pid`` and wait until a new worker is ready in its place."""
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: (
            pid not in server.worker_pids()
            and len(server.status()["workers"]) == 2
            and all(w["ready"] for w in server.status()["workers"])
        )
    )


def answers(server: Server, count: int = 20) -> set[str]:
    # New connections each time, so both workers are asked.
    return {httpx.get(f"{server.url}/fn", timeout=5).text for _ in range(count)}


def test_a_restarted_worker_serves_the_accepted_module_not_the_file_on_disk(
    tmp_path: Path, servers: list[Server]
) -> None:
    write_module(tmp_path, "one")
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=2)
    servers.append(server)
    assert answers(server) == {"one"}

    write_module(tmp_path, "two")  # replaced on disk, no reload
    replace_worker(server, server.worker_pids()[0])
    assert answers(server) == {"one"}
    assert server.status()["functions"][0]["sha256"] == digest_of("one")

    server.process.send_signal(signal.SIGHUP)  # only a reload changes what is served
    wait_until(lambda: answers(server, 6) == {"two"})
    wait_until(lambda: server.status()["functions"][0]["sha256"] == digest_of("two"))


def test_an_unsigned_replacement_under_strict_never_runs_and_causes_no_outage(
    tmp_path: Path, servers: list[Server]
) -> None:
    keys = generate_key_files(tmp_path / "release")
    write_module(tmp_path, "signed", keys.private_file)
    security = "{\n security {\n policy strict\n trusted_key_file release.pub\n }\n }"
    server = start(tmp_path, SITE.replace("SECURITY", security), workers=2)
    servers.append(server)
    assert answers(server) == {"signed"}

    write_module(tmp_path, "unsigned")
    first, second = server.worker_pids()
    replace_worker(server, first)
    assert answers(server) == {"signed"}
    assert pid_alive(second)

    server.process.send_signal(signal.SIGHUP)
    wait_until(lambda: any("Reload refused" in r["message"] for r in server.logs()))
    assert any("refused by security policy strict: unsigned" in r["message"] for r in server.logs())
    replace_worker(server, second)
    assert answers(server) == {"signed"}
    assert server.process.poll() is None


def test_a_worker_that_keeps_failing_to_start_leaves_the_others_serving(
    tmp_path: Path, servers: list[Server]
) -> None:
    write_module(tmp_path, "one")
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=2)
    servers.append(server)
    # Whatever makes a new worker fail: here its module is gone from the store.
    for entry in (tmp_path / "data" / "modules").glob("*.wasm"):
        entry.unlink()
    first, second = server.worker_pids()
    os.kill(first, signal.SIGKILL)

    def failures() -> int:
        failing = server.status()["failing_workers"]
        return failing[0]["failures"] if failing else 0

    wait_until(lambda: failures() >= 6, timeout=60)
    assert server.process.poll() is None
    assert pid_alive(second)
    assert answers(server, 5) == {"one"}
    [failing] = server.status()["failing_workers"]
    assert "missing from the module store" in failing["error"]
    health = httpx.get(f"{server.admin}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "degraded", "workers": 1, "failing_workers": 1}
    assert any("while the other workers keep serving" in r["message"] for r in server.logs())


def test_stopping_refuses_late_clients_at_once_and_drains_in_flight_requests(
    tmp_path: Path, project, c_guest, servers: list[Server]
) -> None:
    project("behave.wasm", c_guest("behave"))
    server = start(tmp_path, ":PORT {\n    pyjinn behave.wasm\n}\n", workers=2)
    servers.append(server)
    result: dict[str, httpx.Response] = {}
    slow = threading.Thread(
        target=lambda: result.setdefault(
            "response", httpx.get(f"{server.url}/?sleep_ms=1500", timeout=10)
        )
    )
    slow.start()
    time.sleep(0.4)
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    port = int(server.url.rsplit(":", 1)[1])
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert time.monotonic() - started < 0.5
    slow.join()
    assert result["response"].status_code == 200
    assert server.process.wait(30) == 0
    records = server.logs()
    assert records and not [r for r in records if r["level"] in ("warning", "error", "critical")], (
        records
    )
