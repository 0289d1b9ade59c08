"""``pyjinn up`` as users run it: real processes, real sockets on loopback, real signals."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import wasmtime

from tests.helpers import wat_writing

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    admin: str
    log: Path

    def status(self) -> dict:
        return httpx.get(f"{self.admin}/status", timeout=5).json()

    def worker_pids(self) -> list[int]:
        return [worker["pid"] for worker in self.status()["workers"]]

    def logs(self) -> list[dict]:
        return [
            json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")
        ]

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def start(
    tmp_path: Path, caddyfile: str, *, workers: int = 1, wait: bool = True, options: str = ""
) -> Server:
    """Run ``pyjinn up`` on ``caddyfile`` (its site address written as ``:PORT``); ``options``
    are global option lines added to the admin address.

    The ports are found free just before the start, so another process (an embedded server's
    random port, another test) can take one in between: a start that fails only because an
    address is in use is tried again on new ports."""
    for _ in range(3):
        server = _launch(tmp_path, caddyfile, workers, options)
        if not wait:
            return server
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                break
            try:
                healthy = httpx.get(f"{server.admin}/healthz", timeout=1).status_code == 200
                if healthy and sum(w["ready"] for w in server.status()["workers"]) == workers:
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        else:
            server.stop()
            raise AssertionError(f"pyjinn did not become ready:\n{server.log.read_text()}")
        assert "Address already in use" in server.log.read_text(), server.log.read_text()
    raise AssertionError(f"pyjinn found no free ports in 3 starts:\n{server.log.read_text()}")


def _launch(tmp_path: Path, caddyfile: str, workers: int, options: str) -> Server:
    port, admin_port = free_port(), free_port()
    extra = textwrap.dedent(options).strip("\n") + "\n" if options else ""
    text = f"{{\n\tadmin 127.0.0.1:{admin_port}\n{extra}}}\n" + textwrap.dedent(caddyfile).replace(
        "PORT", str(port)
    )
    (tmp_path / "Caddyfile").write_text(text)
    log = tmp_path / "pyjinn.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyjinn",
                "up",
                "--workers",
                str(workers),
                "--log-format",
                "json",
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    return Server(process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}", log)


@pytest.fixture
def serve(tmp_path: Path, project, c_guest) -> Iterator[Callable[..., Server]]:
    project("mirror.wasm", c_guest("mirror"))
    project("behave.wasm", c_guest("behave"))
    servers: list[Server] = []

    def run(caddyfile: str = "", **options) -> Server:
        server = start(tmp_path, caddyfile or DEFAULT, **options)
        servers.append(server)
        return server

    yield run
    for server in servers:
        children = []
        if server.process.poll() is None:
            children = server.worker_pids()
        server.stop()
        for pid in children:
            deadline = time.monotonic() + 10
            while pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not pid_alive(pid), f"worker {pid} outlived pyjinn"


DEFAULT = """
:PORT {
    handle /mirror/* {
        pyjinn mirror.wasm
    }
    handle /behave {
        pyjinn behave.wasm {
            timeout 2s
            env SECRET_TOKEN do-not-show
        }
    }
}
"""


def test_the_contract_round_trips_over_a_real_socket(serve) -> None:
    server = serve()
    response = httpx.post(
        f"{server.url}/mirror/envelope?q=1", content=b"payload", headers={"X-Test": "yes"}
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["uri"] == "/mirror/envelope?q=1"
    assert seen["headers"]["X-Test"] == ["yes"]
    assert seen["body"] == "payload"
    assert seen["remote_addr"].startswith("127.0.0.1:")
    binary = bytes(range(256))
    assert httpx.post(f"{server.url}/mirror/x", content=binary).content == binary


def test_a_failure_is_answered_and_the_next_request_succeeds(serve) -> None:
    server = serve()
    timed_out = httpx.get(f"{server.url}/behave?sleep_ms=10000", timeout=10)
    assert timed_out.status_code == 504
    assert httpx.get(f"{server.url}/behave").text == "runs=1"
    failures = [r for r in server.logs() if r.get("kind") == "timeout"]
    assert failures and failures[0]["blame"] == "guest"
    assert failures[0]["trace_id"] == timed_out.json()["trace_id"]


def test_admin_status_describes_functions_without_secrets(serve, tmp_path: Path) -> None:
    server = serve()
    status = server.status()
    functions = {function["name"]: function for function in status["functions"]}
    digest = hashlib.sha256((tmp_path / "behave.wasm").read_bytes()).hexdigest()
    assert functions["behave"]["sha256"] == digest
    assert functions["behave"]["limits"]["timeout_seconds"] == 2.0
    assert functions["behave"]["env"] == ["SECRET_TOKEN"]
    assert "do-not-show" not in json.dumps(status)
    assert httpx.get(f"{server.admin}/healthz").json()["status"] == "ok"
    assert httpx.post(f"{server.admin}/status").status_code == 405


def test_graceful_shutdown_completes_an_in_flight_request(serve) -> None:
    server = serve()
    result: dict[str, httpx.Response] = {}
    request = threading.Thread(
        target=lambda: result.setdefault(
            "response", httpx.get(f"{server.url}/behave?sleep_ms=1000", timeout=10)
        )
    )
    request.start()
    time.sleep(0.4)
    workers = server.worker_pids()
    assert server.stop() == 0
    request.join()
    assert result["response"].status_code == 200
    assert result["response"].text == "runs=1"
    assert not any(pid_alive(pid) for pid in workers)


def test_two_workers_share_the_port_and_a_killed_worker_is_replaced(serve) -> None:
    server = serve(workers=2)
    first, second = server.worker_pids()
    os.kill(first, signal.SIGKILL)
    # The surviving worker keeps answering while the supervisor replaces the dead one.
    for _ in range(10):
        assert httpx.get(f"{server.url}/behave", timeout=5).status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        workers = server.status()["workers"]
        if (
            len(workers) == 2
            and all(w["ready"] for w in workers)
            and first not in server.worker_pids()
        ):
            break
        time.sleep(0.1)
    pids = server.worker_pids()
    assert first not in pids and second in pids and len(pids) == 2
    assert any("was killed by SIGKILL" in record["message"] for record in server.logs())


def test_killing_the_supervisor_takes_its_children_with_it(serve) -> None:
    server = serve(workers=2)
    children = server.worker_pids()
    server.process.kill()
    server.process.wait(10)
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(pid) for pid in children)


def test_a_module_that_cannot_load_stops_start_up_with_its_error(tmp_path: Path, project) -> None:
    project("broken.wat", '(module (import "env" "missing" (func)) (func (export "_start")))')
    server = start(tmp_path, ":PORT {\n\tpyjinn broken.wat\n}\n", wait=False)
    assert server.process.wait(60) == 1
    text = server.log.read_text()
    assert "Caddyfile:5: function 'broken'" in text
    assert "imports 'env.missing'" in text


def test_a_config_error_exits_2_with_file_and_line(tmp_path: Path, project) -> None:
    project("hello.wat", '(module (func (export "_start")))')
    server = start(
        tmp_path, ":PORT {\n\tpyjinn hello.wat {\n\t\tmemroy_limit 1MiB\n\t}\n}\n", wait=False
    )
    assert server.process.wait(30) == 2
    assert "Caddyfile:6: unknown directive 'memroy_limit'" in server.log.read_text()


def test_a_busy_port_is_reported_clearly(tmp_path: Path, project) -> None:
    project("hello.wat", '(module (func (export "_start")))')
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = start(tmp_path, f":{port} {{\n\tpyjinn hello.wat\n}}\n", wait=False)
        assert server.process.wait(30) == 1
    assert f"cannot listen on :{port}: Address already in use" in server.log.read_text()


def test_sighup_reloads_changed_modules_and_refuses_broken_ones(serve, project) -> None:
    project("fn.wat", wat_writing('{"body":"one"}'))
    server = serve(
        DEFAULT.replace(":PORT {", ":PORT {\n    handle /fn {\n        pyjinn fn.wat\n    }")
    )
    assert httpx.get(f"{server.url}/fn").text == "one"

    project("fn.wat", wat_writing('{"body":"two"}'))
    server.process.send_signal(signal.SIGHUP)
    wait_until(lambda: httpx.get(f"{server.url}/fn").text == "two")
    digest = hashlib.sha256(wasmtime.wat2wasm(wat_writing('{"body":"two"}'))).hexdigest()
    wait_until(
        lambda: {f["name"]: f["sha256"] for f in server.status()["functions"]}["fn"] == digest
    )

    project("fn.wat", '(module (import "env" "nope" (func)) (func (export "_start")))')
    server.process.send_signal(signal.SIGHUP)
    wait_until(lambda: any("refused" in r["message"] for r in server.logs()))
    assert httpx.get(f"{server.url}/fn").text == "two"
    assert any("imports 'env.nope'" in r["message"] for r in server.logs())


def wait_until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def children_named(parent: int, name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and comm == name:
            found.append(int(entry.name))
    return found


KV_SITE = """
:PORT {
    handle /kv {
        pyjinn kv.wat {
            permissions {
                kv_read notes
                kv_write notes
            }
        }
    }
}
"""


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_the_embedded_nats_server_lives_and_dies_with_pyjinn(serve, project, how: str) -> None:
    from tests.helpers import KV_IMPORTS, abi_guest

    kv_set = "(call $kv_set (i32.const 0) (i32.const 7) (i32.const 16) (i32.const 2))"
    set_and_get = [f"(i64.extend_i32_s {kv_set})", "(call $kv_get (i32.const 0) (i32.const 7))"]
    project("kv.wat", abi_guest(KV_IMPORTS, set_and_get, {0: "notes/x", 16: "hi"}))
    server = serve(KV_SITE, workers=2)
    assert httpx.get(f"{server.url}/kv").text == "0,2"
    (nats,) = children_named(server.process.pid, "nats-server")
    if how == "sigterm":
        assert server.stop() == 0
    else:
        server.process.kill()
        server.process.wait(10)
    wait_until(lambda: not pid_alive(nats))


def test_status_reports_every_module_version_of_a_large_config(tmp_path: Path, project) -> None:
    # About 100 bytes per function: this config's versions far exceed a pipe's 64 KiB buffer.
    count = 900
    routes = []
    for index in range(count):
        project(f"f{index}.wat", wat_writing(f'{{"body":"{index}"}}'))
        routes.append(f"    handle /f{index} {{\n        pyjinn f{index}.wat\n    }}")
    server = start(tmp_path, ":PORT {\n" + "\n".join(routes) + "\n}\n")
    try:
        assert httpx.get(f"{server.url}/f{count - 1}").text == str(count - 1)
        wait_until(lambda: all(f["sha256"] for f in server.status()["functions"]))
        assert len(server.status()["functions"]) == count
    finally:
        assert server.stop() == 0
