"""The admin listener: read-only status for operators, bound to 127.0.0.1 unless configured.

``GET /healthz`` answers 200 once at least one worker serves (503 before), with status
``degraded`` while a worker keeps failing to start; ``GET /status`` describes the process tree
(failing workers with their last error), the route table (``GET /routes`` alone: what
``pyjinn routes`` shows) and every function: its module, the SHA-256 of the version served,
the versions it served before (newest first), its grants and limits, and how many crash records
there are. ``GET /metrics`` is every worker's metrics, aggregated, for Prometheus; ``GET /stats``
the same per function as JSON (what ``pyjinn stats`` shows); ``GET /logs?function=F&lines=N
[&follow=1]`` the function's access records and guest logs (``pyjinn logs``); ``GET /crashes``
lists the crash records, newest first (``?limit=N``, ``?function=NAME``; a record's contents
stay on disk, for ``pyjinn crashes show``). None of these changes state, and no environment
values are shown (they may be secrets). What changes state needs the admin token: the job
endpoints (``admin_jobs``) and deploy and rollback (``admin_deploy``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from pyjinn import __version__
from pyjinn.config.model import Config, FunctionSpec
from pyjinn.debug.store import CrashStore
from pyjinn.jobs import tenants_of
from pyjinn.jobs.queue import QueueUnavailable
from pyjinn.observability import log_tap
from pyjinn.observability.span_relay import SpanRelay
from pyjinn.observability.stats import function_stats
from pyjinn.release import read_release, read_versions
from pyjinn.runtime import describe_spec
from pyjinn.server import admin_deploy, admin_jobs
from pyjinn.server.admin_deploy import DeployAdmin
from pyjinn.server.admin_jobs import JobsAdmin
from pyjinn.server.asgi import Scope, header, send_body, send_json
from pyjinn.server.route_table import describe_grants, route_table
from pyjinn.server.worker import tap_directory
from pyjinn.services import NatsConnection

log = logging.getLogger("pyjinn.admin")

# Seconds the admin process, stopping, waits for the stopping workers' last spans.
RELAY_DRAIN = 10.0


@dataclass
class ServingState:
    """What the supervisor last reported: worker processes and the module versions they loaded."""

    workers: dict[int, bool] = field(default_factory=dict)  # pid -> ready
    digests: dict[str, str] = field(default_factory=dict)  # function name -> sha256
    # worker index -> {"failures": restarts in a row, "error": the last one}
    failing: dict[str, dict[str, Any]] = field(default_factory=dict)

    def update(self, report: dict[str, Any]) -> None:
        self.workers = {int(pid): bool(ready) for pid, ready in report.get("workers", {}).items()}
        self.failing = dict(report.get("failing", {}))
        if "digests_file" in report:
            try:
                self.digests = json.loads(Path(report["digests_file"]).read_text())
            except (OSError, ValueError) as error:
                log.warning("Cannot read the module versions the supervisor reported: %s", error)

    @property
    def ready_workers(self) -> int:
        return sum(self.workers.values())


class AdminApp:
    """ASGI app for the admin listener; ``feed_fd`` carries the supervisor's reports."""

    def __init__(
        self,
        config: Config,
        state: ServingState,
        feed_fd: int | None = None,
        metrics_dir: Path | None = None,
        release_file: Path | None = None,
        jobs: JobsAdmin | None = None,
        deploy: DeployAdmin | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self._release_file = release_file
        self.jobs = jobs
        self.deploy = deploy
        self.started = time.time()
        self._feed_fd = feed_fd
        self._pending = b""
        self._metrics: MultiProcessCollector | None = None
        if metrics_dir is not None:
            self._metrics = MultiProcessCollector(None, path=str(metrics_dir))  # type: ignore[no-untyped-call]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == admin_jobs.PREFIX or path.startswith(admin_jobs.PREFIX + "/"):
            if self.jobs is None:
                await send_json(send, 503, {"error": "jobs are unavailable (no NATS)"}, indent=2)
            else:
                await self.jobs.handle(scope, send)
        elif path.startswith(admin_deploy.PREFIX + "/"):
            if self.deploy is None:
                await send_json(
                    send, 503, {"error": "deploys are unavailable (no supervisor)"}, indent=2
                )
            else:
                await self.deploy.handle(scope, receive, send)
        elif scope["method"] not in ("GET", "HEAD"):
            await send_json(
                send,
                405,
                {"error": "the admin API is read-only, except POST /jobs/... and /functions/..."},
                indent=2,
            )
        elif scope["path"] == "/healthz":
            ready = self.state.ready_workers
            health = "degraded" if self.state.failing else "ok"
            document: dict[str, Any] = {"status": health if ready else "starting", "workers": ready}
            if self.state.failing:
                document["failing_workers"] = len(self.state.failing)
            await send_json(send, 200 if ready else 503, document, indent=2)
        elif scope["path"] == "/status":
            await send_json(send, 200, self.status(), indent=2)
        elif scope["path"] == "/metrics":
            await self._send_metrics(scope, send)
        elif scope["path"] == "/stats":
            await send_json(send, 200, self.stats(), indent=2)
        elif scope["path"] == "/crashes":
            await self._send_crashes(scope, send)
        elif scope["path"] == "/routes":
            await send_json(
                send, 200, {"routes": route_table(self.config, self.state.digests)}, indent=2
            )
        elif scope["path"] == "/logs":
            await self._send_logs(scope, send)
        else:
            known = "/status, /healthz, /metrics, /stats, /logs, /crashes, /routes"
            await send_json(send, 404, {"error": f"unknown admin path; try {known}"}, indent=2)

    def crash_directories(self) -> list[Path]:
        """Every crash directory the configuration writes to (the global one first)."""
        directories = [self.config.options.crash_records.path]
        for spec in self.config.functions():
            if spec.crash_records.path not in directories:
                directories.append(spec.crash_records.path)
        return directories

    async def _send_crashes(self, scope: Scope, send: Any) -> None:
        query = _query(scope)
        limit_text = query.get("limit", "100")
        if not limit_text.isdigit() or int(limit_text) == 0:
            await send_json(send, 400, {"error": "limit must be a positive whole number"}, indent=2)
            return
        limit, function = int(limit_text), query.get("function")
        records: list[dict[str, Any]] = []
        for directory in self.crash_directories():
            store = CrashStore(directory, create=False)
            records.extend(
                row
                for row in store.summaries()
                if function is None or row.get("function") == function
            )
        records.sort(key=lambda row: str(row.get("id")), reverse=True)
        await send_json(send, 200, {"records": records[:limit], "total": len(records)}, indent=2)

    async def _send_logs(self, scope: Scope, send: Any) -> None:
        """Recent records of one function (or all), as JSON lines; with ``follow``, the response
        goes on with new records until the client disconnects."""
        if self._release_file is None:
            await send_json(send, 503, {"error": "logs are kept only under pyjinn up"}, indent=2)
            return
        query = _query(scope)
        function = query.get("function") or None
        if function is not None and function not in {s.name for s in self.config.functions()}:
            await send_json(send, 404, {"error": f"no function named {function!r}"}, indent=2)
            return
        lines = query.get("lines", "50")
        count = int(lines) if lines.isdigit() else 50
        directory = tap_directory(self._release_file)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-ndjson")],
            }
        )
        records = log_tap.recent(directory, function, count)
        body = b"".join(json.dumps(record).encode() + b"\n" for record in records)
        following = query.get("follow") in ("1", "true", "yes")
        await send({"type": "http.response.body", "body": body, "more_body": following})
        if following:
            async for record in log_tap.follow(directory, function):
                await send(
                    {
                        "type": "http.response.body",
                        "body": json.dumps(record).encode() + b"\n",
                        "more_body": True,
                    }
                )

    def _families(self) -> list[Metric]:
        if self._metrics is None:
            return []
        families = list(self._metrics.collect())  # type: ignore[no-untyped-call]
        workers = Metric("pyjinn_workers_ready", "Worker processes serving requests.", "gauge")
        workers.add_sample("pyjinn_workers_ready", {}, self.state.ready_workers)
        info = Metric("pyjinn_build", "The pyjinn version serving.", "info")
        info.add_sample("pyjinn_build_info", {"version": __version__}, 1)
        return [*families, workers, info]

    async def _send_metrics(self, scope: Scope, send: Any) -> None:
        if self._metrics is None:
            await send_json(
                send, 503, {"error": "metrics are off (no metrics directory)"}, indent=2
            )
            return
        families = self._families()
        if self.jobs is not None:
            dead = Metric(
                "pyjinn_dead_letter_jobs", "Jobs in the dead letters, by tenant.", "gauge"
            )
            with contextlib.suppress(QueueUnavailable):
                for tenant, count in (await self.jobs.dead_letters()).items():
                    dead.add_sample("pyjinn_dead_letter_jobs", {"tenant": tenant}, count)
            families.append(dead)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Fixed(families))
        encoder, content_type = choose_encoder(header(scope, b"accept") or "")
        body = encoder(registry)
        await send_body(send, 200, content_type.encode(), body)

    def stats(self) -> dict[str, Any]:
        return {
            "uptime_seconds": round(time.time() - self.started, 3),
            "workers": self.state.ready_workers,
            "functions": function_stats(self._families()),
        }

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                loop = asyncio.get_running_loop()
                if self._feed_fd is not None:
                    os.set_blocking(self._feed_fd, False)
                    loop.add_reader(self._feed_fd, self._read_feed)
                loop.add_signal_handler(signal.SIGHUP, self._reload_config)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.jobs is not None:
                    await self.jobs.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _reload_config(self) -> None:
        """Show the configuration of the supervisor's current release."""
        if self._release_file is None:
            return
        try:
            self.config = read_release(self._release_file).config
        except (OSError, pickle.UnpicklingError, TypeError, EOFError) as error:
            log.warning("Cannot read the reloaded configuration: %s", error)

    def _read_feed(self) -> None:
        assert self._feed_fd is not None
        try:
            data = os.read(self._feed_fd, 65536)
        except BlockingIOError:
            return
        if not data:  # the supervisor is gone; we are about to be stopped too
            asyncio.get_running_loop().remove_reader(self._feed_fd)
            return
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "switched" in message:
                if self.deploy is not None:
                    self.deploy.answered(message["switched"])
            else:
                self.state.update(message)

    def status(self) -> dict[str, Any]:
        versions = read_versions(self.config.options.data_dir)
        return {
            "version": __version__,
            "config": str(self.config.source) if self.config.source else None,
            "supervisor_pid": os.getppid(),
            "uptime_seconds": round(time.time() - self.started, 3),
            "workers": [
                {"pid": pid, "ready": ready} for pid, ready in sorted(self.state.workers.items())
            ],
            "failing_workers": [
                {"index": int(index), **details}
                for index, details in sorted(self.state.failing.items())
            ],
            "sites": [
                {"addresses": [str(address) for address in site.addresses]}
                for site in self.config.sites
            ],
            "routes": route_table(self.config, self.state.digests),
            "functions": [self._describe(spec, versions) for spec in self.config.functions()],
            "crash_records": [
                {"directory": str(directory), "count": CrashStore(directory, create=False).count()}
                for directory in self.crash_directories()
            ],
        }

    def _describe(self, spec: FunctionSpec, versions: dict[str, Any]) -> dict[str, Any]:
        description = describe_spec(spec, self.state.digests.get(spec.name))
        description["grants"] = describe_grants(spec.permissions)
        description["versions"] = versions.get(spec.name, [])
        return description


class _Fixed:
    """A collector of already gathered families (one scrape's worth)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def run_admin(
    config: Config,
    sock: socket.socket,
    feed_fd: int,
    metrics_dir: Path | None = None,
    release_file: Path | None = None,
    nats: NatsConnection | None = None,
    token: str | None = None,
    request_fd: int | None = None,
    span_socket: socket.socket | None = None,
) -> int:
    """Admin process main: serve the admin app on ``sock`` until told to stop. With ``nats``
    and the admin ``token``, it serves the job endpoints too; with the ``token`` and
    ``request_fd`` (to the supervisor), deploys and rollbacks; with ``span_socket``, it exports
    the workers' spans (``pyjinn.observability.span_relay``)."""
    from pyjinn.server.http import serve_http

    app = AdminApp(config, ServingState(), feed_fd, metrics_dir, release_file)
    if nats is not None and token is not None:
        app.jobs = JobsAdmin(nats, config.options.jobs, token, lambda: tenants_of(app.config))
    if token is not None and request_fd is not None:
        app.deploy = DeployAdmin(lambda: app.config, token, request_fd)
    relay = SpanRelay(span_socket, shared=True).start() if span_socket is not None else None
    try:
        serve_http(app, [sock], grace=1.0)
    finally:
        if relay is not None:
            relay.close(wait=RELAY_DRAIN)
    return 0
