"""Servers the suite starts and stops: ``pyjinn up``, and the comparison fronts in bench/fronts.

Every server listens on a free loopback port, logs to a file in the run directory, and is
stopped with SIGTERM (then SIGKILL) by the suite, which started it.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.environment import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """A server process the suite started."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    admin_port: int | None = None
    started: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, Any]:
        """``pyjinn up``'s admin /status."""
        if self.admin_port is None:
            raise RuntimeError(f"{self.name} has no admin listener")
        status, body = request("GET", self.admin_port, "/status")
        if status != 200:
            raise RuntimeError(f"{self.name}: /status answered {status}")
        result: dict[str, Any] = json.loads(body)
        return result

    def pids(self) -> list[int]:
        """This server's processes: the one started, and its children (workers, admin)."""
        return [self.process.pid, *children(self.process.pid)]

    def cpu_seconds(self) -> float:
        """CPU time all of this server's processes have used: see ``tree_cpu_seconds``."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def python_command(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def spawn(
    name: str, command: list[str], port: int, run_dir: Path, cwd: Path | None = None
) -> Server:
    """Start ``command`` with its stderr in ``run_dir/NAME.log``; does not wait for it."""
    log = run_dir / f"{name}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("ab") as log_file:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd or run_dir,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            env=environment,
        )
    return Server(name, process, port, log, started=started)


def pyjinn_up(
    name: str,
    caddyfile: Path,
    port: int,
    admin_port: int,
    run_dir: Path,
    workers: int | None,
    log_level: str = "warning",
) -> Server:
    """``pyjinn up CADDYFILE`` (``--workers`` unless None: the default, one per CPU). At the
    default ``warning`` level no per-request records are written: the access log is turned off
    too (``--no-access-log``, where pyjinn has it)."""
    options = ["--workers", str(workers)] if workers is not None else []
    if log_level != "info" and "--no-access-log" in up_options():
        options.append("--no-access-log")
    command = python_command(
        "-m",
        "pyjinn",
        "up",
        str(caddyfile),
        *options,
        "--log-format",
        "json",
        "--log-level",
        log_level,
    )
    server = spawn(name, command, port, run_dir, cwd=caddyfile.parent)
    server.admin_port = admin_port
    return server


@functools.cache
def up_options() -> str:
    """``pyjinn up --help``: which options this pyjinn has."""
    result = subprocess.run(
        python_command("-m", "pyjinn", "up", "--help"),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    return result.stdout


def request(
    method: str, port: int, path: str, body: bytes | None = None, timeout: float = 30.0
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a new connection; (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_ok(
    server: Server,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    timeout: float = 120.0,
) -> float:
    """Poll until ``path`` answers 200; seconds since the server was started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{tail(server.log)}")
        try:
            status, _ = request(method, server.port, path, body, timeout=timeout)
            if status == 200:
                return time.perf_counter() - server.started
        except (ConnectionError, OSError, http.client.HTTPException):
            time.sleep(0.002)
            continue
        time.sleep(0.01)
    raise RuntimeError(f"{server.name} did not answer 200 on {path}:\n{tail(server.log)}")


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid``, whichever of its threads started them."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:  # the thread has exited
            continue
    return found


def command_name(pid: int) -> str:
    """The process's command name (``/proc/PID/comm``), or "" once it has exited."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def memory(pid: int) -> dict[str, int]:
    """Resident (RSS) and proportional (PSS: shared pages split among sharers) bytes."""
    result = {"rss": 0, "pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                result[key.lower()] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return result


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """CPU time ``pid`` has used (user + system, all its threads), in seconds; with
    ``reaped_children``, plus that of its children that have exited and been waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, their children, ...)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children(current))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the process tree under ``pid`` (``pid`` included), every thread counted.

    Each live process counts its own time and that of its children already reaped, so a child
    that exits between two readings moves from the first term to its parent's second and is
    counted once: the difference of two readings is what the tree used in between (workers,
    an admin process, or a process started per request alike)."""
    return sum(cpu_seconds(process, reaped_children=True) for process in descendants(pid))


def wait_until_idle(
    pid: int, *, busy_below: float = 0.1, window: float = 0.5, timeout: float = 20.0
) -> float | None:
    """Seconds until ``pid`` used less than ``busy_below`` of a core over ``window``; None if
    it was still busy after ``timeout``."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - before) / window < busy_below:
            return time.perf_counter() - started
    return None


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
