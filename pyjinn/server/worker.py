"""A worker process: loads every module, reports ready, then serves HTTP on inherited sockets.

Workers are forked by the supervisor after it has bound the listening sockets, so several
workers accept on the same ports. Each has its own wasmtime engine and runtime; guest code runs
on the worker's threads, with the GIL released while wasm executes. A worker serves the
supervisor's current release (``pyjinn.release``): its configuration, and module bytes from
the store by digest, never the files on disk; on SIGHUP it switches to the release the
supervisor has just written.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import pickle
import signal
import socket
from pathlib import Path
from typing import Any

from pyjinn.config.model import Config
from pyjinn.observability import access_log, guest_logs, log_tap, tracing
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.observability.multiprocess import Flusher
from pyjinn.release import Release, read_release
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.server.http import serve_http
from pyjinn.server.reload import log_outcome, reload_app
from pyjinn.services import Services

log = logging.getLogger("pyjinn.server")


def grace_period(config: Config) -> float:
    """How long a shutdown waits for in-flight requests: the longest timeout, plus a margin."""
    timeouts = [spec.limits.timeout for spec in config.functions()]
    return max(timeouts, default=0.0) + 5.0


def tap_directory(release_file: Path) -> Path:
    """Where the workers of one ``pyjinn up`` keep their log taps (``pyjinn logs``)."""
    return release_file.parent / "logs"


def run_worker(
    release: Release,
    sockets: list[socket.socket],
    report_fd: int,
    services: Services,
    metrics_dir: Path | None = None,
    release_file: Path | None = None,
    span_relay: Path | None = None,
) -> int:
    """Worker main: returns the process exit status. Reports to the supervisor through
    ``report_fd``, one JSON object per line: ready (or why not), then each reload's outcome.
    Metrics go to ``metrics_dir`` (for the admin process to aggregate), spans to the admin
    process's ``span_relay`` when there is one; on SIGHUP the release in ``release_file`` is
    served."""
    config = release.config
    METRICS.reset()  # whatever the supervisor held is not this worker's
    guest_logs.reset()
    flusher = Flusher(metrics_dir) if metrics_dir is not None else None
    if flusher is not None:
        flusher.start()
    if release_file is not None:
        log_tap.install(tap_directory(release_file))
    tracing.configure(config.options.tracing, relay=span_relay)
    runtime = Runtime(config, services=services, modules=release)
    runtime.start()
    problems = runtime.load_all()
    if problems:
        _report(report_fd, {"ready": False, "errors": problems})
        runtime.close()
        services.close()
        if flusher is not None:
            flusher.close()
        return 3
    digests = {name: function.module.digest for name, function in runtime.functions.items()}
    _report(report_fd, {"ready": True, "digests": digests})
    app = PyjinnApp(runtime)
    # Everything loaded so far (pyjinn, wasmtime, the OpenTelemetry SDK, compiled modules) lives
    # as long as the worker: keep the garbage collector from walking it again and again.
    gc.freeze()
    gc.enable()  # `pyjinn up` pauses it during start-up (pyjinn.cli)
    if release_file is not None:
        app.on_startup.append(_Reloader(app, release_file, report_fd).install)
    try:
        serve_http(app, sockets, grace_period(config), config.options.servers)
    finally:
        access_log.uninstall()  # writes out what is still buffered
        app.runtime.close()
        services.close()
        tracing.shutdown()
        if flusher is not None:
            flusher.close()
    log.debug("Worker %d stopped.", os.getpid())
    return 0


class _Reloader:
    """Switches to the supervisor's latest release whenever SIGHUP arrives; reloads never
    overlap, none is lost."""

    def __init__(self, app: PyjinnApp, path: Path, report_fd: int) -> None:
        self.app, self.path, self.report_fd = app, path, report_fd
        self.task: asyncio.Task[None] | None = None
        self.again = False

    def install(self) -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.request)

    def request(self) -> None:
        if self.task is not None and not self.task.done():
            self.again = True
        else:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        self.again = True
        while self.again:
            self.again = False
            try:
                release = read_release(self.path)
            except (OSError, pickle.UnpicklingError, TypeError, EOFError) as error:
                log.error("Cannot read the release to reload (%s); still serving.", error)
                continue
            outcome = await reload_app(self.app, release)
            source = release.config.source or self.path
            log_outcome(outcome, source)
            _report(
                self.report_fd,
                {
                    "reload": outcome.applied,
                    "generation": release.generation,
                    "digests": outcome.digests,
                    "errors": outcome.problems,
                },
            )


def _report(fd: int, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the supervisor is gone; we are about to stop too
        os.write(fd, json.dumps(message).encode() + b"\n")
