"""``pyjinn dev`` as a user runs it: a project from ``pyjinn init``, edited while it serves."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pyjinn.scaffold import create_project
from tests.server.test_live import free_port, pid_alive

pytestmark = pytest.mark.slow


class Dev:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "dev.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pyjinn", "dev", "--port", str(self.port),
                 "--admin", f"127.0.0.1:{self.admin_port}", "--log-format", "json"],
                cwd=root, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def text(self, path: str) -> str | None:
        try:
            return httpx.get(f"{self.url}{path}", timeout=5).text
        except httpx.TransportError:
            return None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> float:
        started = time.monotonic()
        while not condition():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() - started < timeout, f"not in time:\n{self.output()}"
            time.sleep(0.02)
        return time.monotonic() - started


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    create_project(tmp_path, "hello", "c")
    running = Dev(tmp_path)
    yield running
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(60)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_a_changed_c_source_is_served_within_seconds_and_a_compile_error_keeps_the_last_good(
    dev: Dev,
) -> None:
    dev.wait_for(lambda: dev.text("/hello") == "Hello from hello", timeout=120)
    source = dev.root / "functions" / "hello" / "main.c"

    edit(source, '"Hello from hello"', '"Changed from hello"')
    seconds = dev.wait_for(lambda: dev.text("/hello") == "Changed from hello", timeout=30)
    print(f"edit to new answer: {seconds:.2f} s")
    assert seconds < 6.0  # about a second here; generous for a loaded machine

    edit(source, "return pyjinn_respond(", "return pyjinn_respond(oops")
    dev.wait_for(lambda: "Failed to build" in dev.output(), timeout=30)
    assert "main.c:" in dev.output() and "error:" in dev.output()
    assert "Still serving the last good version." in dev.output()
    time.sleep(0.5)
    assert dev.text("/hello") == "Changed from hello"

    edit(source, "return pyjinn_respond(oops", "return pyjinn_respond(")
    edit(source, '"Changed from hello"', '"Fixed from hello"')
    dev.wait_for(lambda: dev.text("/hello") == "Fixed from hello", timeout=30)


def test_a_changed_caddyfile_is_reloaded_and_stopping_dev_stops_the_server(dev: Dev) -> None:
    dev.wait_for(lambda: dev.text("/hello") == "Hello from hello", timeout=120)
    caddyfile = dev.root / "Caddyfile"
    edit(caddyfile, "\thandle /hello {", '\trespond /ping "pong" 200\n\thandle /hello {')
    dev.wait_for(lambda: dev.text("/ping") == "pong", timeout=30)

    admin = f"http://127.0.0.1:{dev.admin_port}"
    workers = [w["pid"] for w in httpx.get(f"{admin}/status", timeout=5).json()["workers"]]
    assert len(workers) == 1  # dev serves with one worker by default
    dev.process.send_signal(signal.SIGTERM)
    assert dev.process.wait(60) == 0
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(pid) for pid in workers)


def test_a_project_that_does_not_build_at_first_is_served_once_it_is_fixed(tmp_path: Path) -> None:
    create_project(tmp_path, "hello", "c")
    source = tmp_path / "functions" / "hello" / "main.c"
    edit(source, "int main(void) {", "int main(void) { oops")
    running = Dev(tmp_path)
    try:
        running.wait_for(lambda: "it starts again when a file changes" in running.output(), 120)
        assert "Failed to build" in running.output()

        edit(source, "int main(void) { oops", "int main(void) {")
        running.wait_for(lambda: running.text("/hello") == "Hello from hello", timeout=60)
    finally:
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(60)
