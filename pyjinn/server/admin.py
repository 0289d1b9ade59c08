"""The admin listener: read-only status for operators, bound to 127.0.0.1 unless configured.

``GET /healthz`` answers 200 once at least one worker serves (503 before), ``GET /status``
describes the process tree and every function: its module, the SHA-256 of the version loaded,
its limits. Nothing here changes state, and no environment values are shown (they may be secrets).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from pyjinn import __version__
from pyjinn.config.model import Config
from pyjinn.runtime import describe_spec

Scope = dict[str, Any]


@dataclass
class ServingState:
    """What the supervisor last reported: worker processes and the module versions they loaded."""

    workers: dict[int, bool] = field(default_factory=dict)  # pid -> ready
    digests: dict[str, str] = field(default_factory=dict)  # function name -> sha256

    def update(self, report: dict[str, Any]) -> None:
        self.workers = {int(pid): bool(ready) for pid, ready in report.get("workers", {}).items()}
        self.digests.update(report.get("digests", {}))

    @property
    def ready_workers(self) -> int:
        return sum(self.workers.values())


class AdminApp:
    """ASGI app for the admin listener; ``feed_fd`` carries the supervisor's reports."""

    def __init__(self, config: Config, state: ServingState, feed_fd: int | None = None) -> None:
        self.config = config
        self.state = state
        self.started = time.time()
        self._feed_fd = feed_fd
        self._pending = b""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _json(send, 405, {"error": "the admin API is read-only"})
        elif scope["path"] == "/healthz":
            ready = self.state.ready_workers
            status = 200 if ready else 503
            await _json(send, status, {"status": "ok" if ready else "starting", "workers": ready})
        elif scope["path"] == "/status":
            await _json(send, 200, self.status())
        else:
            await _json(send, 404, {"error": "unknown admin path; try /status or /healthz"})

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
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _reload_config(self) -> None:
        """Show the reloaded configuration; the supervisor has already checked it."""
        from pyjinn.server.reload import load_for_reload

        if self.config.source is None:
            return
        loaded = load_for_reload(self.config.source, self.config)
        if isinstance(loaded, Config):
            self.config = loaded

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
            self.state.update(json.loads(line))

    def status(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "config": str(self.config.source) if self.config.source else None,
            "supervisor_pid": os.getppid(),
            "uptime_seconds": round(time.time() - self.started, 3),
            "workers": [
                {"pid": pid, "ready": ready} for pid, ready in sorted(self.state.workers.items())
            ],
            "sites": [
                {"addresses": [str(address) for address in site.addresses]}
                for site in self.config.sites
            ],
            "functions": [
                describe_spec(spec, self.state.digests.get(spec.name))
                for spec in self.config.functions()
            ],
        }


async def _json(send: Any, status: int, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def run_admin(config: Config, sock: socket.socket, feed_fd: int) -> int:
    """Admin process main: serve the admin app on ``sock`` until told to stop."""
    from pyjinn.server.worker import serve_http

    serve_http(AdminApp(config, ServingState(), feed_fd), [sock], grace=1.0)
    return 0
