"""A worker process: loads every module, reports ready, then serves HTTP on inherited sockets.

Workers are forked by the supervisor after it has bound the listening sockets, so several
workers accept on the same ports. Each has its own wasmtime engine and runtime; guest code runs
on the worker's threads, with the GIL released while wasm executes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from typing import Any

import uvicorn

from pyjinn.config.model import Config
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp

log = logging.getLogger("pyjinn.server")


def grace_period(config: Config) -> float:
    """How long a shutdown waits for in-flight requests: the longest timeout, plus a margin."""
    timeouts = [spec.limits.timeout for spec in config.functions()]
    return max(timeouts, default=0.0) + 5.0


def serve_http(app: Any, sockets: list[socket.socket], grace: float) -> None:
    """Run an ASGI app on already-bound sockets until SIGTERM or SIGINT, then drain gracefully."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, int(grace + 0.999)),
        )
    )
    # uvicorn re-raises the signal that stopped it once it has drained; a no-op handler keeps
    # that from killing the process, so it can still close the runtime and exit cleanly.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    server.run(sockets=sockets)


def run_worker(config: Config, sockets: list[socket.socket], ready_fd: int) -> int:
    """Worker main: returns the process exit status."""
    runtime = Runtime(config)
    runtime.start()
    problems = runtime.load_all()
    if problems:
        _report(ready_fd, {"ready": False, "errors": problems})
        runtime.close()
        return 3
    digests = {name: function.module.digest for name, function in runtime.functions.items()}
    _report(ready_fd, {"ready": True, "digests": digests})
    try:
        serve_http(PyjinnApp(runtime), sockets, grace_period(config))
    finally:
        runtime.close()
    log.debug("Worker %d stopped.", os.getpid())
    return 0


def _report(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")
    os.close(fd)
