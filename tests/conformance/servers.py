"""Serving one Caddyfile with Caddy and with pyjinn, and asking both the same raw requests.

Caddy is the ``caddy`` binary on PATH (Debian's package in CI); where it is missing, the live
comparison is skipped and the written-down answers alone are checked against pyjinn. Requests go
over real sockets with ``http.client``, which sends the target exactly as written (no dot-segment
or slash clean-up on the client side), so both servers see the same bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyjinn
from tests.conformance.table import Answer, Request
from tests.servers import free_ports


@dataclass(frozen=True)
class Reply:
    """What a server answered: status, body and headers (names in lower case)."""

    status: int
    body: str
    headers: dict[str, list[str]]

    def matches(self, answer: Answer) -> list[str]:
        """What differs from ``answer`` (empty: it matches)."""
        problems = []
        if (self.status, self.body) != (answer.status, answer.body):
            problems.append(f"answered {self.status} {self.body!r}")
        for name, expected in answer.headers.items():
            got = self.headers.get(name.lower())
            shown = ", ".join(got) if got else None
            if shown != expected:
                problems.append(f"header {name}: {shown!r}, expected {expected!r}")
        return problems


def ask(port: int, request: Request) -> Reply:
    """Send ``request`` to 127.0.0.1:``port`` as written and read the reply."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        names = {name.lower() for name, _ in request.headers}
        connection.putrequest(
            request.method,
            request.target,
            skip_host="host" in names,
            skip_accept_encoding=True,
        )
        for name, value in request.headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        headers: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            headers.setdefault(name.lower(), []).append(value)
        return Reply(response.status, body, headers)
    finally:
        connection.close()


def caddy_binary() -> str | None:
    return shutil.which("caddy")


def caddy_version(binary: str) -> tuple[int, ...]:
    """Caddy's version as numbers (``v2.6.2 h1:...`` or Debian's ``2.6.2``)."""
    output = subprocess.run([binary, "version"], capture_output=True, text=True, check=True)
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", output.stdout)
    assert found is not None, output.stdout
    return tuple(int(part) for part in found.groups())


def caddy_adapts(binary: str, caddyfile: Path) -> tuple[bool, str]:
    """Whether Caddy accepts ``caddyfile``, and what it said."""
    result = subprocess.run(
        [binary, "adapt", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
    )
    return result.returncode == 0, result.stderr.strip()


@contextlib.contextmanager
def running_caddy(binary: str, caddyfile: Path, ports: list[int]) -> Iterator[None]:
    """Caddy serving ``caddyfile`` until the block ends."""
    log = caddyfile.with_suffix(".log")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [binary, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=caddyfile.parent,
        )
    try:
        _wait_for(process, ports, log)
        yield
    finally:
        _stop(process)


@contextlib.contextmanager
def running_pyjinn(caddyfile: Path, ports: list[int]) -> Iterator[None]:
    """``pyjinn up`` (one worker) serving ``caddyfile`` until the block ends."""
    log = caddyfile.with_suffix(".log")
    # The pyjinn under test, wherever the server's working directory is.
    root = str(Path(pyjinn.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "pyjinn", "up", str(caddyfile), "--workers", "1"],
            stdout=subprocess.DEVNULL,
            stderr=output,
            cwd=caddyfile.parent,
            env={**os.environ, "PYTHONPATH": path},
        )
    try:
        _wait_for(process, ports, log)
        yield
    finally:
        _stop(process)


def _wait_for(process: subprocess.Popen[bytes], ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + 60
    waiting = list(ports)
    while waiting:
        if process.poll() is not None:
            raise AssertionError(f"the server exited:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the server did not listen on {waiting}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2).close()
            waiting.pop(0)
        except OSError:
            time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = [
    "Reply",
    "ask",
    "caddy_adapts",
    "caddy_binary",
    "caddy_version",
    "free_ports",
    "running_caddy",
    "running_pyjinn",
]
