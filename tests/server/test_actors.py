"""WebSocket actors end to end: pyjinn's app under uvicorn on a loopback port, real WebSocket
clients (the ``websockets`` library), guests in C (the SDK) and in WAT (Gojinn's imports)."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from pyjinn.config import loads
from pyjinn.debug.recorder import RECORDER
from pyjinn.engine import invoke as invoke_module
from pyjinn.engine import native
from pyjinn.errors import ModuleErrors
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.observability.metrics import WEBSOCKET_MESSAGES, WEBSOCKETS
from pyjinn.runtime import Runtime
from pyjinn.server import http as server_http
from pyjinn.server.actors import origin_allowed
from pyjinn.server.app import PyjinnApp
from pyjinn.server.http import GuardedWebSocketProtocol
from tests.sdk.support import build_c

pytestmark = pytest.mark.slow

ACTOR_SOURCE = Path(__file__).parent / "guests" / "actor.c"

# Gojinn's actor: host_ws_upgrade, then echo what host_ws_read gives until it reads 0. A plain
# request (host_ws_upgrade answers 0) gets a 400. The message "trap" traps.
GOJINN_ECHO = r"""
(module
  (import "gojinn" "host_ws_upgrade" (func $upgrade (result i32)))
  (import "gojinn" "host_ws_read" (func $read (param i32 i32) (result i64)))
  (import "gojinn" "host_ws_write" (func $write (param i32 i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"status\":400,\"body\":\"websocket only\"}")
  (func (export "_start")
    (local $n i64)
    (if (i32.eqz (call $upgrade))
      (then
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 38))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (return)))
    (block $done
      (loop $next
        (local.set $n (call $read (i32.const 1024) (i32.const 4096)))
        (br_if $done (i64.eqz (local.get $n)))
        ;; "trap" (0x70617274 little-endian) traps
        (if (i32.and (i64.eq (local.get $n) (i64.const 4))
                     (i32.eq (i32.load (i32.const 1024)) (i32.const 0x70617274)))
          (then unreachable))
        (call $write (i32.const 1024) (i32.wrap_i64 (local.get $n)))
        (br $next)))))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Live:
    """A PyjinnApp served by uvicorn (its WebSocket support) on a loopback port, in a thread."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.port = free_port()
        config = uvicorn.Config(
            PyjinnApp(runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            ws=GuardedWebSocketProtocol,  # as pyjinn up serves WebSockets
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)

    def ws(self, path: str, **options: object) -> connect:
        return connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10, **options)  # type: ignore[arg-type]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(params=["native", "ctypes"])
def mechanics(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through the native invocation path and through the ctypes fallback: both
    must read the deadline the connection moves."""
    if request.param == "native":
        if not invoke_module.NATIVE:
            pytest.skip("the _fastinvoke extension is not built")
    else:
        monkeypatch.setattr(invoke_module, "_native", None)
        monkeypatch.setattr(native, "extension", None)  # modules linked for the ctypes path
    return str(request.param)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """``serve(caddyfile)``: the config (admin off) served live; actor.wasm (the C actor) and
    gojinn.wat (the WAT echo) are in its directory."""
    (tmp_path / "gojinn.wat").write_text(GOJINN_ECHO)
    (tmp_path / "actor.wasm").write_bytes(build_c(ACTOR_SOURCE.read_text()).read_bytes())
    lives: list[Live] = []

    def start(caddyfile: str, options: str = "") -> Live:
        text = "{\n\tadmin off\n" + options + "}\n" + textwrap.dedent(caddyfile)
        (tmp_path / "Caddyfile").write_text(text)  # for the CLI (pyjinn replay)
        runtime = Runtime(loads(text, base_dir=tmp_path, environ={}))
        assert runtime.load_all() == []
        lives.append(Live(runtime))
        return lives[-1]

    yield start
    for live in lives:
        live.stop()
        live.runtime.close()


def actor_site(options: str = "", module: str = "actor.wasm", name: str = "actor") -> str:
    return f"""
    :8080 {{
        pyjinn /ws {module} {{
            name {name}
            {options}
            permissions {{
                websocket
            }}
        }}
        pyjinn /other actor.wasm {{
            name other
            permissions {{
                websocket
            }}
        }}
    }}
    """


def closed(connection: ClientConnection, timeout: float = 20) -> tuple[int, str]:
    """Read until the server closes the connection; its close code and reason."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.recv(timeout=max(0.1, deadline - time.monotonic()))
        except ConnectionClosed as ended:
            assert ended.rcvd is not None, "the server dropped the connection without a close"
            return ended.rcvd.code, ended.rcvd.reason
        except TimeoutError:
            raise AssertionError("the server did not close the connection") from None


def test_gojinn_echo_actor_in_wat_echoes_messages_and_answers_plain_http(serve) -> None:
    live = serve(actor_site(module="gojinn.wat", name="echo").replace("pyjinn /ws", "gojinn /ws"))
    with live.ws("/ws") as connection:
        for text in ("hello", "héllo wörld", "x" * 4000):
            connection.send(text)
            assert connection.recv(timeout=10) == text
    plain = live.get("/ws")
    assert (plain.status_code, plain.text) == (400, "websocket only")


def test_c_sdk_actor_echoes_text_and_binary_keeping_their_types(serve) -> None:
    live = serve(actor_site())
    with live.ws("/ws") as connection:
        connection.send("text message")
        assert connection.recv(timeout=10) == "text message"
        connection.send(b"\x00\xffbinary")
        assert connection.recv(timeout=10) == b"\x00\xffbinary"
        connection.send("")
        assert connection.recv(timeout=10) == ""


def test_plain_request_to_an_actor_gets_its_http_answer_with_the_upgrade_invalid(serve) -> None:
    live = serve(actor_site())
    answer = live.get("/ws")
    assert (answer.status_code, answer.text) == (400, "websocket only (INVALID)")


def test_client_close_code_and_reason_reach_the_function(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guest's log lines, caught on the guest logger itself: whatever earlier tests did to
    # the process's logging (a command's dictConfig, propagation), this logger still tells.
    lines: list[str] = []
    catcher = logging.Handler(logging.INFO)
    catcher.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    guest = logging.getLogger("pyjinn.guest")
    monkeypatch.setattr(guest, "disabled", False)
    monkeypatch.setattr(guest, "level", logging.INFO)
    guest.addHandler(catcher)
    try:
        live = serve(actor_site())
        with live.ws("/ws") as connection:
            connection.send("ping")
            assert connection.recv(timeout=10) == "ping"
            connection.close(4321, "leaving now")
        deadline = time.monotonic() + 10
        while not any("closed 4321 leaving now" in line for line in lines):
            assert time.monotonic() < deadline, f"the guest logged only {lines}"
            time.sleep(0.05)
    finally:
        guest.removeHandler(catcher)


@pytest.mark.parametrize("module", ["actor.wasm", "gojinn.wat"])
def test_actor_that_traps_mid_connection_is_closed_1011_and_the_server_keeps_serving(
    serve, module: str
) -> None:
    live = serve(actor_site(module=module))
    with live.ws("/ws") as connection:
        connection.send("before")
        assert connection.recv(timeout=10) == "before"
        connection.send("trap")
        code, reason = closed(connection)
    assert code == 1011
    assert "crashed" in reason
    with live.ws("/ws") as again:  # the server, and the function, keep serving
        again.send("after")
        assert again.recv(timeout=10) == "after"


def test_idle_connection_is_closed_1001_after_timeout_while_messages_keep_it_open(
    serve, mechanics: str
) -> None:
    live = serve(actor_site("timeout 1s"))
    with live.ws("/ws") as connection:
        started = time.monotonic()
        # Messages every 0.4 s keep a connection with a 1 s idle timeout open for 3 s: the
        # function's own deadline moves with each message.
        while time.monotonic() - started < 3:
            connection.send("still here")
            assert connection.recv(timeout=10) == "still here"
            time.sleep(0.4)
        quiet = time.monotonic()
        code, reason = closed(connection)
        waited = time.monotonic() - quiet
    assert (code, reason) == (1001, "idle timeout")
    assert 0.5 < waited < 10


def test_busy_connection_is_closed_at_max_duration(serve, mechanics: str) -> None:
    live = serve(actor_site("timeout 1s\nmax_duration 2s"))
    with live.ws("/ws") as connection:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as ended:
            while time.monotonic() - started < 20:
                connection.send("busy")
                connection.recv(timeout=10)
                time.sleep(0.2)
    assert ended.value.rcvd is not None
    assert (ended.value.rcvd.code, ended.value.rcvd.reason) == (
        1001,
        "connection reached its max_duration",
    )
    assert 1.5 < time.monotonic() - started < 15


def test_function_computing_past_its_idle_timeout_is_stopped_with_1011(
    serve, mechanics: str
) -> None:
    live = serve(actor_site("timeout 1s"))
    with live.ws("/ws") as connection:
        connection.send("spin")
        started = time.monotonic()
        code, reason = closed(connection)
    assert (code, reason) == (1011, "function timed out")
    assert time.monotonic() - started < 10
    assert live.get("/ws").status_code == 400  # still serving


def test_message_over_max_message_closes_the_connection_with_1009(serve) -> None:
    live = serve(actor_site("max_message 1KiB"))
    with live.ws("/ws") as connection:
        connection.send("x" * 1024)
        assert len(connection.recv(timeout=10)) == 1024
        connection.send("x" * 1025)
        code, _ = closed(connection)
    assert code == 1009


def test_function_writing_over_max_message_gets_limit(serve) -> None:
    live = serve(actor_site("max_message 1KiB"))
    with live.ws("/ws") as connection:
        connection.send("big 1024")
        assert len(connection.recv(timeout=10)) == 1024
        assert connection.recv(timeout=10) == "big: OK"
        connection.send("big 1025")
        assert connection.recv(timeout=10) == "big: LIMIT"


def test_function_closes_the_connection_with_its_own_code(serve) -> None:
    live = serve(actor_site())
    with live.ws("/ws") as connection:
        connection.send("close")
        assert closed(connection) == (4000, "bye")


def test_read_with_a_wait_answers_not_found_when_nothing_came(serve) -> None:
    live = serve(actor_site())
    with live.ws("/ws") as connection:
        connection.send("poll")
        assert connection.recv(timeout=10) == "poll: NOT_FOUND"


def test_second_upgrade_is_invalid(serve) -> None:
    live = serve(actor_site())
    with live.ws("/ws") as connection:
        connection.send("upgrade")
        assert connection.recv(timeout=10) == "upgrade: INVALID"


def test_client_that_never_reads_is_given_up_on_with_memory_bounded(serve) -> None:
    live = serve(actor_site("timeout 2s"))
    before = _rss()
    # The client's library stops reading once 4 messages wait for it: after that nothing is
    # read, and the function tries to send 3000 x 64 KiB (about 190 MiB).
    with live.ws("/ws", max_queue=4) as connection:
        connection.send("flood 3000")
        time.sleep(4)  # the function waits for room until its idle deadline is near
        grown = _rss() - before
        code, reason = closed(connection)
    assert (code, reason) == (1008, "client is not reading")
    assert grown < 48 * 1024 * 1024, f"the server grew by {grown / 2**20:.0f} MiB"


def test_origin_not_listed_is_refused_403_before_the_function_runs(serve) -> None:
    live = serve(actor_site("ws_origin https://app.example.com"))
    before = dict(METRICS.function("actor").invocations)
    with pytest.raises(InvalidStatus) as refused, live.ws("/ws", origin="https://evil.example"):
        pass
    assert refused.value.response.status_code == 403
    assert b"origin not allowed" in refused.value.response.body
    after = METRICS.function("actor").invocations
    assert (
        after.get(("origin_refused", "default"), 0)
        == before.get(("origin_refused", "default"), 0) + 1
    )
    assert after.get(("ok", "default"), 0) == before.get(("ok", "default"), 0)
    with live.ws("/ws", origin="https://APP.example.com:443") as connection:
        connection.send("allowed")
        assert connection.recv(timeout=10) == "allowed"
    with live.ws("/ws") as connection:  # no Origin: not a browser
        connection.send("no origin")
        assert connection.recv(timeout=10) == "no origin"


def test_without_ws_origin_the_functions_cors_origins_may_connect(serve) -> None:
    live = serve(actor_site("cors_origin https://app.example.com"))
    with pytest.raises(InvalidStatus) as refused, live.ws("/ws", origin="https://evil.example"):
        pass
    assert refused.value.response.status_code == 403
    with live.ws("/ws", origin="https://app.example.com") as connection:
        connection.send("from the page")
        assert connection.recv(timeout=10) == "from the page"


def test_handshakes_beyond_the_rate_limit_get_429_and_open_connections_go_on(serve) -> None:
    live = serve(actor_site("rate_limit 0.01 1"))
    with live.ws("/ws") as connection:
        with pytest.raises(InvalidStatus) as refused, live.ws("/ws"):
            pass
        assert refused.value.response.status_code == 429
        assert refused.value.response.headers["retry-after"] == "100"
        connection.send("still here")
        assert connection.recv(timeout=10) == "still here"


def test_origin_check_compares_origins_as_ws_origin_writes_them() -> None:
    allowed = ("https://app.example.com", "http://localhost:5173")
    assert origin_allowed(None, allowed)
    assert origin_allowed("https://app.example.com", ())
    assert origin_allowed("HTTPS://App.Example.com:443", allowed)
    assert origin_allowed("http://localhost:5173", allowed)
    assert not origin_allowed("http://localhost:5174", allowed)
    assert not origin_allowed("http://app.example.com", allowed)
    assert not origin_allowed("null", allowed)
    assert not origin_allowed("https://app.example.com:99999", allowed)
    assert origin_allowed("null", ("*",))


def test_handshake_without_an_api_key_gets_401(serve) -> None:
    live = serve(actor_site("api_key secret-key-0123456789 acme"))
    with pytest.raises(InvalidStatus) as refused, live.ws("/ws"):
        pass
    assert refused.value.response.status_code == 401
    with live.ws("/ws", additional_headers={"X-API-Key": "secret-key-0123456789"}) as connection:
        connection.send("with key")
        assert connection.recv(timeout=10) == "with key"


def test_connections_beyond_pool_size_get_503(serve) -> None:
    live = serve(actor_site("pool_size 2\npool_wait 0s"))
    with live.ws("/ws") as first, live.ws("/ws") as second:
        for connection in (first, second):
            connection.send("held")
            assert connection.recv(timeout=10) == "held"
        with pytest.raises(InvalidStatus) as refused, live.ws("/ws"):
            pass
        assert refused.value.response.status_code == 503
        assert refused.value.response.headers["Retry-After"] == "1"
    deadline = time.monotonic() + 10
    while True:  # the slots come back once the functions have returned
        try:
            with live.ws("/ws") as connection:
                connection.send("again")
                assert connection.recv(timeout=10) == "again"
            break
        except InvalidStatus:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_module_taking_connections_over_without_the_grant_is_refused_at_load(
    tmp_path: Path,
) -> None:
    (tmp_path / "actor.wasm").write_bytes(build_c(ACTOR_SOURCE.read_text()).read_bytes())
    text = "{\n\tadmin off\n}\n:8080 {\n\tpyjinn /ws actor.wasm\n}\n"
    runtime = Runtime(loads(text, base_dir=tmp_path, environ={}))
    try:
        problems = runtime.load_all()
    finally:
        runtime.close()
    assert len(problems) == 1
    assert "'pyjinn.ws_upgrade'" in problems[0]
    assert "add the line `websocket` to its permissions block" in problems[0]
    assert isinstance(ModuleErrors(problems), ModuleErrors)


def test_metrics_count_connections_messages_and_how_they_ended(serve) -> None:
    live = serve(actor_site(name="counted"))
    with live.ws("/ws") as connection:
        for _ in range(3):
            connection.send("m")
            connection.recv(timeout=10)
        connection.send("close")
        closed(connection)
    deadline = time.monotonic() + 10
    while METRICS.websockets_open.get("counted", 0) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    counters = {
        (family.name, labels): value
        for family, labels, value in METRICS.snapshot()
        if family in (WEBSOCKETS, WEBSOCKET_MESSAGES) and labels[0] == "counted"
    }
    assert counters[("pyjinn_websocket_messages", ("counted", "in"))] == 4
    assert counters[("pyjinn_websocket_messages", ("counted", "out"))] == 3
    assert counters[("pyjinn_websocket_connections", ("counted", "function"))] == 1
    assert METRICS.websockets_open["counted"] == 0
    assert METRICS.websocket_duration["counted"].count == 1


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.parametrize("module", ["actor.wasm", "gojinn.wat"])
def test_actor_that_crashed_replays_from_its_record_with_the_messages_it_read(
    serve, tmp_path: Path, module: str
) -> None:
    live = serve(actor_site(module=module))
    with live.ws("/ws") as connection:
        for text in ("one", "two"):
            connection.send(text)
            assert connection.recv(timeout=10) == text
        connection.send(b"three" if module == "actor.wasm" else "three")
        connection.recv(timeout=10)
        connection.send("trap")
        assert closed(connection)[0] == 1011
    RECORDER.flush(timeout=10)
    listed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "crashes", "list", "--json"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    rows = json.loads(listed.stdout)
    assert [row["function"] for row in rows] == ["actor"]
    assert rows[0]["outcome"] == "trap"
    shown = subprocess.run(
        [sys.executable, "-m", "pyjinn", "crashes", "show", rows[0]["id"], "--json"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    calls = [call["call"] for call in json.loads(shown.stdout)["host_calls"]]
    reads = [call for call in calls if call in ("ws_read", "host_ws_read")]
    assert len(reads) == 4  # one, two, three, trap: each read is in the record
    replayed = subprocess.run(
        [sys.executable, "-m", "pyjinn", "replay", rows[0]["id"], "--json"],
        cwd=tmp_path, capture_output=True,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["verdict"] == "reproduced"


def test_finished_connection_whose_client_reads_nothing_is_aborted_after_the_linger(
    serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_http, "CLOSE_LINGER", 1.0)
    live = serve(actor_site("timeout 1s"))
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        # A client that shrinks its receive buffer, does the handshake by hand, asks for a
        # flood and then never reads again.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert raw.recv(12) == b"HTTP/1.1 101"
        payload = b"flood 3000"
        mask = b"\x01\x02\x03\x04"
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        connections = live.server.server_state.connections
        deadline = time.monotonic() + 30
        # The function gives up on the client (1008) and returns; the server cannot flush the
        # close to a client that reads nothing, and aborts the socket after CLOSE_LINGER.
        while connections:
            assert time.monotonic() < deadline, "the connection was never aborted"
            time.sleep(0.1)
