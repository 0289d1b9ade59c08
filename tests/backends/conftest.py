"""Storage backend fixtures: real nats-server processes on random loopback ports."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyjinn.services.nats import ConnectInfo, EmbeddedNats, find_nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectInfo]:
    """One embedded server (JetStream, generated credential) shared by the whole session."""
    server = EmbeddedNats(tmp_path_factory.mktemp("nats-session"))
    info = server.start()
    yield info
    server.stop()


@pytest.fixture
def start_nats(tmp_path: Path) -> Iterator[Callable[..., EmbeddedNats]]:
    """A factory: ``start_nats()`` starts a further embedded server, stopped after the test.

    The returned EmbeddedNats can be stopped and started again by the test (same port, same
    credential, same store).
    """
    started: list[EmbeddedNats] = []
    names = itertools.count()

    def start(store_dir: Path | None = None) -> EmbeddedNats:
        server = EmbeddedNats(store_dir or tmp_path / f"nats-{next(names)}")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@dataclass(frozen=True)
class PlainNats:
    """A nats-server without authentication, with its monitoring endpoint on loopback."""

    url: str
    monitoring: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def start_plain_nats(tmp_path: Path) -> Iterator[Callable[..., PlainNats]]:
    """A factory: ``start_plain_nats(jetstream=True)`` runs nats-server with monitoring on.

    For the tests that count the server's connections (``/connz``) or need JetStream off.
    """
    processes: list[subprocess.Popen[bytes]] = []

    def start(*, jetstream: bool = True) -> PlainNats:
        directory = tmp_path / f"plain-{len(processes)}"
        directory.mkdir()
        arguments = [str(find_nats_server()), "-a", "127.0.0.1", "-p", "-1", "-m", "-1"]
        arguments += ["--ports_file_dir", str(directory)]
        if jetstream:
            arguments += ["-js", "-sd", str(directory)]
        process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(process)
        ports_file = directory / f"nats-server_{process.pid}.ports"
        deadline = time.monotonic() + 10
        while not ports_file.exists():
            assert process.poll() is None, "nats-server exited while starting"
            assert time.monotonic() < deadline, "nats-server wrote no ports file"
            time.sleep(0.005)
        time.sleep(0.01)  # the file may be written in more than one step
        ports = json.loads(ports_file.read_text())
        return PlainNats(ports["nats"][0], ports["monitoring"][0], process)

    yield start
    for process in processes:
        process.terminate()
        process.wait(5)


@pytest.fixture
def new_tenant() -> Callable[[], str]:
    """A factory of tenant names never used before (the session server is shared)."""
    return lambda: f"t{uuid.uuid4().hex[:16]}"
