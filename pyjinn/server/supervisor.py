"""``pyjinn up``: a small supervisor process, an admin process and N worker processes.

The supervisor binds every listening socket, reads and checks every module into a release
(``pyjinn.release``), then forks. It never runs an event loop, a thread or wasm, which is what
makes forking safe; children inherit the already imported code and the release, and start in
milliseconds. The first worker loads (and compiles, warming the on-disk cache) every module
and reports ready before the others start, so a broken module stops start-up with its error
instead of a crash loop.

Afterwards the supervisor restarts crashed processes with the current release. A worker that
keeps failing to start is retried with a growing back-off (up to 30 s) and reported as degraded
on the admin listener, while the others go on serving. On SIGTERM or SIGINT it stops accepting
on every listening socket at once (late clients are refused, not left in a backlog nobody will
accept from), then asks every child to drain in-flight requests before it exits.

Switching releases: a reload (SIGHUP) or a deploy (the admin process asks, after it has checked
and compiled the uploaded module) publishes a new release and sends every worker SIGHUP; each
worker loads the release beside the one serving and swaps it in whole, so in-flight requests
finish on the old version. One switch runs at a time: the next deploy or reload waits until
every worker has confirmed the current one. A release a worker refuses is withdrawn for all.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyjinn import logs
from pyjinn.config.model import Address, Config
from pyjinn.errors import ConfigError, ModuleError, PyjinnError
from pyjinn.observability import log_tap, multiprocess, span_relay
from pyjinn.release import (
    Deployments,
    ModuleStore,
    Release,
    accept_version,
    make_release,
    write_release,
)
from pyjinn.server.credential import CredentialError, admin_token
from pyjinn.server.routing import bind_host
from pyjinn.server.worker import grace_period, tap_directory
from pyjinn.services import Services, start_services, unavailable_for
from pyjinn.services.nats import EmbeddedNats

log = logging.getLogger("pyjinn.supervisor")

READY_TIMEOUT = 600.0  # first start may compile large modules (a Go guest takes seconds)
MAX_START_FAILURES = 5  # before ever serving: the configuration cannot start, so stop
MAX_RESTART_DELAY = 30.0
SWITCH_TIMEOUT = 300.0  # for every worker to confirm a new release (a new Go module compiles)
_PR_SET_PDEATHSIG = 1


def serve(
    caddyfile: Path,
    *,
    workers: int | None,
    log_format: str,
    log_level: str,
    access_log: bool = True,
    adjust: Callable[[Config], Config] | None = None,
    prepare: Callable[[Path], bool] | None = None,
) -> int:
    """Run pyjinn until stopped; returns the process exit status. ``adjust`` changes the
    configuration as loaded (at start and on reload: ``--listen``); ``prepare`` runs once
    before the Caddyfile is read (building and signing modules) and stops start-up when it
    answers False."""
    from pyjinn.config import load

    logs.configure(log_format, log_level, access_log=access_log)
    if prepare is not None and not _in_child_process(lambda: prepare(caddyfile)):
        return 1
    try:
        config = load(caddyfile)
    except ConfigError as error:
        for line in str(error).splitlines():
            log.error("%s", line)
        return 2
    except FileNotFoundError:
        log.error("No Caddyfile at %s; pass its path: pyjinn up PATH.", caddyfile)
        return 2
    for warning in config.warnings:
        log.warning("%s", warning)
    if adjust is not None:
        config = adjust(config)
    return Supervisor(config, workers or os.cpu_count() or 1, adjust).run()


def _in_child_process(work: Callable[[], bool]) -> bool:
    """Run ``work`` in a forked child and say whether it succeeded. Building modules starts
    threads (wasmtime's, the progress display's) that a process which forks workers must not
    have had."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = 0 if work() else 1
        except BaseException:
            log.exception("Preparing the modules failed.")
        finally:
            os._exit(status)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) == 0
        except KeyboardInterrupt:
            continue  # Ctrl-C reached the child too; it stops and says so


def listen(address: Address) -> socket.socket:
    """A listening TCP socket for a site or admin address."""
    host = bind_host(address.host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, address.port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@dataclass
class _Child:
    role: str  # "worker" or "admin"
    index: int
    pid: int
    started: float
    report_fd: int | None = None
    ready: bool = False
    buffer: bytes = b""


@dataclass
class _Switch:
    """A release sent to the running workers, until each has switched (or one refused)."""

    generation: int
    waiting: set[int]  # worker pids yet to confirm
    started: float
    request: dict[str, Any] | None = None  # the deploy or rollback it answers; None: a reload
    digest: str | None = None
    previous: str | None = None
    switched: set[int] = field(default_factory=set)


@dataclass
class _Restarts:
    failures: dict[tuple[str, int], int] = field(default_factory=dict)
    due: dict[tuple[str, int], float] = field(default_factory=dict)
    last_error: dict[tuple[str, int], str] = field(default_factory=dict)


class Supervisor:
    """Owns the listening sockets and the child processes of one ``pyjinn up``."""

    def __init__(
        self, config: Config, workers: int, adjust: Callable[[Config], Config] | None = None
    ) -> None:
        self.config = config
        self.adjust = adjust
        self.release: Release | None = None
        self.admin_token: str | None = None
        self._previous_release: Release | None = None
        self.serving = False  # a worker has been ready: from now on, failures never stop us
        self.worker_count = workers
        self.children: dict[int, _Child] = {}
        self.digests: dict[str, str] = {}
        self.restarts = _Restarts()
        self.stopping = False
        self.reload_requested = False
        self.exit_status = 0
        self._sockets: list[socket.socket] = []
        self._admin_socket: socket.socket | None = None
        self._admin_feed: int | None = None
        # Where workers hand their spans to the admin process (None: they export them).
        self._span_socket: socket.socket | None = None
        self._span_path: Path | None = None
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.services = Services()
        self.nats_server: EmbeddedNats | None = None
        self.metrics_dir: Path | None = None
        self._state_dir: Path | None = None
        self._digests_sent: dict[str, str] = {}
        self._failing_sent: dict[str, Any] = {}
        self.deployments = Deployments(config.options.data_dir, config.options.keep_versions)
        self._switch: _Switch | None = None
        self._deploys: deque[dict[str, Any]] = deque()

    def run(self) -> int:
        try:
            self._bind()
            # Before any fork: workers inherit the connection details, and the embedded
            # server's parent-death signal follows this (main) thread.
            self.admin_token = self._admin_token()
            self.services, self.nats_server = start_services(self.config, shared=True)
            release = make_release(self.config, 0, self.deployments)
            if isinstance(release, list):
                for problem in release:
                    log.error("%s", problem)
                raise PyjinnError("cannot start: a module could not be accepted")
            self._publish(release)
            self._save_deployments()
        except (OSError, PyjinnError, CredentialError) as error:
            log.error("%s", error)
            if self.nats_server is not None:
                self.nats_server.stop()
            self._close_sockets()
            return 1
        self._prepare_metrics()
        self._prepare_span_relay()
        self._install_signal_handlers()
        # What start-up loaded lives as long as this process and its children: kept out of
        # every later collection, and not copied into a child's memory by one either.
        gc.freeze()
        if self._admin_socket is not None:
            self._spawn_admin()
        self._spawn_worker(0)
        if self._wait_ready(0):
            for index in range(1, self.worker_count):
                self._spawn_worker(index)
            gc.enable()  # paused for start-up by pyjinn.cli
            self._announce()
            self._loop()
        self._shutdown()
        return self.exit_status

    # -- start-up ---------------------------------------------------------------------------

    def _admin_token(self) -> str:
        """The admin token; when it is made now (the first start on this data_dir), say where
        it is, and show it once on a terminal (never in logs that leave the machine)."""
        from pyjinn.server.credential import ENVIRONMENT_VARIABLE, FILE_NAME

        path = self.config.options.data_dir / FILE_NAME
        made = ENVIRONMENT_VARIABLE not in os.environ and not path.exists()
        token = admin_token(self.config.options.data_dir)
        if made:
            log.info(
                "Created the admin token in %s (mode 0600): pyjinn deploy, rollback and jobs "
                "read it there; give it to clients elsewhere as %s.",
                path,
                ENVIRONMENT_VARIABLE,
            )
            if sys.stderr.isatty():
                sys.stderr.write(f"Admin token (shown once): {token}\n")
        return token

    def _bind(self) -> None:
        bound: dict[tuple[str, int], socket.socket] = {}
        for site in self.config.sites:
            for address in site.addresses:
                key = (bind_host(address.host), address.port)
                if key in bound:
                    continue
                # A wildcard listener on a port covers every interface; more would clash.
                if ("0.0.0.0", address.port) in bound:
                    continue
                try:
                    bound[key] = listen(address)
                except OSError as error:
                    raise OSError(f"cannot listen on {address}: {error.strerror}") from None
        self._sockets = list(bound.values())
        admin = self.config.options.admin
        if admin is not None:
            try:
                self._admin_socket = listen(admin)
            except OSError as error:
                hint = " (is another pyjinn running? set 'admin' in the global options)"
                raise OSError(
                    f"cannot listen on admin address {admin}: {error.strerror}{hint}"
                ) from None
            if bind_host(admin.host) not in ("127.0.0.1", "::1"):
                log.warning("The admin listener is reachable from other hosts at %s.", admin)

    def _prepare_metrics(self) -> None:
        try:
            self.metrics_dir = multiprocess.prepare_directory(self.config.options.data_dir)
        except OSError as error:
            log.warning("Metrics are off: cannot prepare their directory (%s).", error)

    def _prepare_span_relay(self) -> None:
        """The socket the admin process takes workers' spans on (with an admin process only)."""
        if self._admin_socket is None:
            return
        path = span_relay.socket_path(self._state_directory())
        if path is None:
            log.info("Workers export their spans themselves: %s is too deep.", self._state_dir)
            return
        try:
            self._span_socket = span_relay.listen(path)
        except OSError as error:
            log.warning(
                "Workers export their spans themselves: cannot listen at %s (%s).", path, error
            )
            return
        self._span_path = path

    def _install_signal_handlers(self) -> None:
        signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the wakeup fd

    def _on_stop(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            log.warning("Second stop signal: killing child processes now.")
            self._signal_children(signal.SIGKILL)
        self.stopping = True

    def _on_reload(self, _signum: int, _frame: Any) -> None:
        self.reload_requested = True

    def _reload(self) -> None:
        """Check the changed Caddyfile, then ask every child to reload it (SIGHUP)."""
        from pyjinn.server.reload import load_for_reload

        self.reload_requested = False
        source = self.config.source
        if source is None:
            return
        log.info("Reloading %s.", source)
        loaded = load_for_reload(source, self.config, self.adjust)
        if not isinstance(loaded, list):
            problem = unavailable_for(loaded, self.services)
            loaded = [problem] if problem is not None else loaded
        if isinstance(loaded, list):
            for problem in loaded:
                log.error("Reload refused: %s", problem)
            log.error("Reload of %s refused; still serving the previous configuration.", source)
            return
        assert self.release is not None
        release = make_release(loaded, self.release.generation + 1, self.deployments)
        if isinstance(release, list):
            for problem in release:
                log.error("Reload refused: %s", problem)
            log.error("Reload of %s refused; still serving the previous configuration.", source)
            return
        if loaded.options.admin != self.config.options.admin:
            log.warning("The admin address changed; it takes effect after a restart.")
        self._previous_release = self.release
        self.deployments.forget_except({spec.name for spec in loaded.functions()})
        self.deployments.keep = loaded.options.keep_versions
        self._publish(release)
        self._save_deployments()
        self._start_switch(release, None)

    def _deploy(self, request: dict[str, Any]) -> None:
        """Serve another version of one function (a deploy or a rollback), if its policy
        accepts it; the admin process has already compiled and linked it."""
        assert self.release is not None
        name, how = str(request.get("function")), str(request.get("how"))
        spec = next((s for s in self.config.functions() if s.name == name), None)
        if spec is None:
            self._answer(request, 404, f"no function named {name!r} is configured")
            return
        try:
            store = ModuleStore(self.release.store_dir)
            wanted = request.get("digest")
            if how == "rollback":
                wanted = self.deployments.rollback_target(name, wanted)
            digest = accept_version(spec, str(wanted), store)
        except LookupError as error:
            self._answer(request, 409, str(error.args[0]))
            return
        except (ModuleError, OSError) as error:
            self._answer(request, 422, str(error))
            return
        previous = self.release.digests.get(name)
        if digest == previous:
            self.deployments.record(name, digest, how)
            self._save_deployments()
            self._answer(request, 200, None, sha256=digest, previous=previous, unchanged=True)
            return
        release = replace(
            self.release,
            digests={**self.release.digests, name: digest},
            generation=self.release.generation + 1,
        )
        log.info("%s of function %r: switching to %s.", how.capitalize(), name, digest[:12])
        self._previous_release = self.release
        self._publish(release)
        self._start_switch(release, request, digest, previous)

    def _start_switch(
        self,
        release: Release,
        request: dict[str, Any] | None,
        digest: str | None = None,
        previous: str | None = None,
    ) -> None:
        waiting = {c.pid for c in self.children.values() if c.role == "worker" and c.ready}
        self._switch = _Switch(
            release.generation, waiting, time.monotonic(), request, digest, previous
        )
        self._signal_children(signal.SIGHUP)
        if not waiting:
            self._switched()

    def _switched(self) -> None:
        switch, self._switch = self._switch, None
        assert switch is not None
        seconds = round(time.monotonic() - switch.started, 3)
        request = switch.request
        if request is None:
            return
        name = str(request["function"])
        assert switch.digest is not None
        self.deployments.record(name, switch.digest, str(request["how"]))
        self._save_deployments()
        log.info(
            "Function %r serves %s on every worker (switched in %.3f s).",
            name,
            switch.digest[:12],
            seconds,
        )
        self._answer(
            request,
            200,
            None,
            sha256=switch.digest,
            previous=switch.previous,
            workers=len(switch.switched),
            switch_seconds=seconds,
        )

    def _withdraw(self, errors: list[str]) -> None:
        """A worker refused the release being switched to: serve the previous one everywhere."""
        switch, self._switch = self._switch, None
        assert switch is not None
        previous = self._previous_release
        if previous is not None and self.release is not None:
            self._previous_release = None
            self._publish(replace(previous, generation=self.release.generation + 1))
            if switch.switched:  # they serve the refused release: bring them back
                self._signal_children(signal.SIGHUP)
            else:
                self._signal_admin_reload()
        if switch.request is not None:
            self._answer(
                switch.request,
                422,
                "the workers refused it; nothing changed: " + "; ".join(errors),
            )
        else:
            log.error("The workers refused the new configuration; still serving the previous one.")

    def _check_switch_time(self) -> None:
        switch = self._switch
        if switch is None or time.monotonic() - switch.started < SWITCH_TIMEOUT:
            return
        pids = ", ".join(str(pid) for pid in sorted(switch.waiting))
        log.error("Worker(s) %s did not confirm release %d in time.", pids, switch.generation)
        self._switch = None
        if switch.request is not None:
            self._answer(
                switch.request,
                504,
                f"worker(s) {pids} did not confirm the switch within {SWITCH_TIMEOUT:.0f} s",
            )

    def _answer(
        self, request: dict[str, Any], status: int, error: str | None, **details: Any
    ) -> None:
        """Tell the admin process how a deploy or rollback it asked for ended."""
        if error is not None:
            log.error(
                "%s of function %r refused: %s", request.get("how"), request.get("function"), error
            )
        answer = {"id": request.get("id"), "status": status, "error": error, **details}
        self._feed_admin({"switched": answer})

    def _save_deployments(self) -> None:
        try:
            self.deployments.save()
        except OSError as error:
            log.warning(
                "Cannot record the deployed versions in %s: %s", self.deployments.path, error
            )

    def _publish(self, release: Release) -> None:
        """Make ``release`` the one served: by workers started from now on (inherited), and by
        running ones on SIGHUP (the release file). Modules neither in this release, the previous
        one, nor the kept versions of a function are dropped."""
        self.release, self.config = release, release.config
        write_release(release, self._release_file())
        kept = set(release.digests.values()) | self.deployments.kept_digests()
        if self._previous_release is not None:
            kept |= set(self._previous_release.digests.values())
        # An upload the admin process has stored but not yet asked to serve is spared too.
        ModuleStore(release.store_dir).keep_only(kept, younger_than=SWITCH_TIMEOUT)

    def _release_file(self) -> Path:
        return self._state_directory() / "release.pickle"

    def _state_directory(self) -> Path:
        """A private directory for what the supervisor hands to its children, in memory
        (/dev/shm) where there is one, removed when pyjinn stops."""
        if self._state_dir is None:
            shared_memory = Path("/dev/shm")
            parent = str(shared_memory) if shared_memory.is_dir() else None
            self._state_dir = Path(tempfile.mkdtemp(prefix="pyjinn-state-", dir=parent))
        return self._state_dir

    def _announce(self) -> None:
        addresses = ", ".join(
            f"http://{bind_host(a.host)}:{a.port}"
            for site in self.config.sites
            for a in site.addresses
        )
        admin = self.config.options.admin
        log.info(
            "pyjinn is serving %d function(s) on %s with %d worker(s)%s.",
            sum(1 for _ in self.config.functions()),
            addresses or "no address",
            self.worker_count,
            f"; admin on http://{admin}" if admin else "",
        )

    # -- children ---------------------------------------------------------------------------

    def _fork(self, role: str, index: int, target: Callable[[int], int]) -> _Child:
        """Fork a child that runs ``target(report_fd)``; it reports through that pipe."""
        report_read, report_write = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            status = 70
            try:
                os.close(report_read)
                if role != "worker":  # a worker turns it on once it has loaded its functions
                    gc.enable()
                self._become_child()
                status = target(report_write)
            except BaseException:
                log.exception("The %s process failed.", role)
            finally:
                os._exit(status)
        os.close(report_write)
        child = _Child(role, index, pid, time.monotonic(), report_fd=report_read)
        self.children[pid] = child
        return child

    def _become_child(self) -> None:
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        # Until the child installs its reload handler, a reload request must not kill it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.close(self._wake_read)
        os.close(self._wake_write)
        # Terminal Ctrl-C reaches only the supervisor, which then stops children in order;
        # and a child never outlives the supervisor, even a killed one.
        os.setpgid(0, 0)
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    def _spawn_worker(self, index: int) -> None:
        def worker_main(report_fd: int) -> int:
            from pyjinn.server.worker import run_worker

            if self._admin_socket is not None:
                self._admin_socket.close()
            if self._span_socket is not None:
                self._span_socket.close()
            if self._admin_feed is not None:
                os.close(self._admin_feed)
            assert self.release is not None
            return run_worker(
                self.release,
                self._sockets,
                report_fd,
                self.services,
                self.metrics_dir,
                self._release_file(),
                self._span_path,
            )

        self._fork("worker", index, worker_main)

    def _spawn_admin(self) -> None:
        admin_socket = self._admin_socket
        assert admin_socket is not None
        feed_read, feed_write = os.pipe2(os.O_CLOEXEC)

        def admin_main(report_fd: int) -> int:
            from pyjinn.server.admin import run_admin

            os.close(feed_write)
            if self._admin_feed is not None:
                os.close(self._admin_feed)
            for sock in self._sockets:
                sock.close()
            return run_admin(
                self.config,
                admin_socket,
                feed_read,
                self.metrics_dir,
                self._release_file(),
                self.services.nats,
                self.admin_token,
                report_fd,
                self._span_socket,
            )

        child = self._fork("admin", 0, admin_main)
        os.close(feed_read)
        os.set_blocking(feed_write, False)  # a stuck admin process must never block us
        child.ready = True
        if self._admin_feed is not None:
            os.close(self._admin_feed)
        self._admin_feed = feed_write
        self._report_to_admin()

    def _wait_ready(self, index: int) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            worker = self._worker(index)
            if worker is None:
                self.exit_status = 1
                return False  # it exited; _reap logged why
            if worker.ready:
                return True
            self._poll(1.0)
        if not self.stopping:
            log.error("The first worker did not become ready within %.0f s.", READY_TIMEOUT)
            self.exit_status = 1
        return False

    def _worker(self, index: int) -> _Child | None:
        for child in self.children.values():
            if child.role == "worker" and child.index == index:
                return child
        return None

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping:
            self._poll(1.0)
            self._check_switch_time()
            if self._switch is None and self._deploys:
                self._deploy(self._deploys.popleft())
            elif self._switch is None and self.reload_requested:
                self._reload()
            self._watch_nats()
            now = time.monotonic()
            for key, due in list(self.restarts.due.items()):
                if due <= now and not self.stopping:
                    del self.restarts.due[key]
                    role, index = key
                    if role == "admin":
                        self._spawn_admin()
                    else:
                        self._spawn_worker(index)

    def _watch_nats(self) -> None:
        """Restart the embedded nats-server if it died; clients reconnect on their next call."""
        server = self.nats_server
        status = server.exit_status() if server is not None else None
        if server is None or status is None:
            return
        log.error("The embedded nats-server exited with status %d; restarting it.", status)
        try:
            server.restart()
        except PyjinnError as error:
            log.error("Cannot restart the embedded nats-server: %s", error)

    def _poll(self, timeout: float) -> None:
        readable = [self._wake_read] + [
            child.report_fd for child in self.children.values() if child.report_fd is not None
        ]
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select(readable, [], [], timeout)
            for fd in ready:
                if fd == self._wake_read:
                    with contextlib.suppress(BlockingIOError):
                        os.read(fd, 4096)
                else:
                    self._read_report(next(c for c in self.children.values() if c.report_fd == fd))
        self._reap()

    def _read_report(self, child: _Child) -> None:
        """Read what a child reported: one JSON object per line; end of file when it exits."""
        fd = child.report_fd
        assert fd is not None
        data = os.read(fd, 65536)
        if not data:
            os.close(fd)
            child.report_fd = None
            return
        *lines, child.buffer = (child.buffer + data).split(b"\n")
        for line in lines:
            try:
                self._on_report(child, json.loads(line))
            except json.JSONDecodeError:
                log.error("Unreadable report from the %s process: %r.", child.role, line[:200])

    def _on_report(self, child: _Child, report: dict[str, Any]) -> None:
        key = (child.role, child.index)
        if child.role == "admin":
            if isinstance(report.get("deploy"), dict):
                self._deploys.append(report["deploy"])  # the loop takes it after this poll
        elif "reload" in report:
            self._on_reload_report(child, report)
        elif report.get("ready"):
            child.ready = True
            self.serving = True
            self.restarts.failures.pop(key, None)
            self.restarts.last_error.pop(key, None)
            self.digests.update(report.get("digests", {}))
            log.debug("Worker %d (pid %d) is ready.", child.index, child.pid)
            self._report_to_admin()
        elif report.get("errors"):
            for error in report["errors"]:
                log.error("%s", error)
            self.restarts.last_error[key] = "; ".join(report["errors"])[:2000]
            if not self.serving:
                self.exit_status = 1
                self.stopping = True

    def _on_reload_report(self, child: _Child, report: dict[str, Any]) -> None:
        if report["reload"]:
            self.digests = dict(report.get("digests", {}))
            self._report_to_admin()
        switch = self._switch
        if switch is None or report.get("generation") != switch.generation:
            return
        switch.waiting.discard(child.pid)
        if not report["reload"]:
            # A module that does not compile or link, say: every worker refuses it alike.
            self._withdraw(list(report.get("errors") or ["refused"]))
            return
        switch.switched.add(child.pid)
        if not switch.waiting:
            self._switched()

    def _reap(self) -> None:
        # Only our own children, by pid: the embedded nats-server is reaped by its owner.
        for pid in list(self.children):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done == 0:
                continue
            child = self.children.pop(pid)
            while child.report_fd is not None:  # it exited, so this reaches end of file
                self._read_report(child)
            switch = self._switch
            if switch is not None and pid in switch.waiting:
                switch.waiting.discard(pid)  # its replacement starts with the new release
                if not switch.waiting:
                    self._switched()
            if self.metrics_dir is not None and child.role == "worker":
                multiprocess.forget_process(self.metrics_dir, pid)
            if child.role == "worker" and self._state_dir is not None:
                log_tap.remove(tap_directory(self._release_file()) / f"worker-{pid}.jsonl")
            self._report_to_admin()
            if self.stopping:
                continue
            self._schedule_restart(child, _describe_status(status))

    def _schedule_restart(self, child: _Child, how: str) -> None:
        key = (child.role, child.index)
        failures = self.restarts.failures.get(key, 0) + 1
        self.restarts.failures[key] = failures
        if child.role == "worker" and not child.ready:
            self.restarts.last_error.setdefault(key, f"it {how} before becoming ready")
            if not self.serving and failures >= MAX_START_FAILURES:
                log.error(
                    "Worker %d %s before becoming ready, %d times in a row; stopping.",
                    child.index,
                    how,
                    failures,
                )
                self.exit_status = 1
                self.stopping = True
                return
        delay = min(MAX_RESTART_DELAY, 0.25 * 2 ** (failures - 1))
        if child.role == "worker" and not child.ready and failures > 1:
            log.error(
                "Worker %d (pid %d) %s before becoming ready, %d times in a row; retrying in "
                "%.2f s while the other workers keep serving (degraded).",
                child.index,
                child.pid,
                how,
                failures,
                delay,
            )
        else:
            log.error(
                "The %s process (pid %d) %s; restarting it in %.2f s.",
                child.role,
                child.pid,
                how,
                delay,
            )
        self.restarts.due[key] = time.monotonic() + delay
        self._report_to_admin()

    def _failing_workers(self) -> dict[str, Any]:
        """Workers that failed to start at their last attempt, for /status and /healthz."""
        return {
            str(index): {
                "failures": failures,
                "error": self.restarts.last_error.get((role, index), ""),
            }
            for (role, index), failures in self.restarts.failures.items()
            if role == "worker"
            and not any(
                c.ready for c in self.children.values() if (c.role, c.index) == (role, index)
            )
        }

    def _report_to_admin(self) -> None:
        """Tell the admin process about workers and loaded module versions. The feed is a
        non-blocking pipe, so a message must stay far below its 64 KiB buffer: the digests
        (about 80 bytes per function) travel in a file, replaced atomically when they change."""
        if self._admin_feed is None:
            return
        report: dict[str, Any] = {
            "workers": {str(c.pid): c.ready for c in self.children.values() if c.role == "worker"},
            "failing": self._failing_workers(),
        }
        if self.digests != self._digests_sent:
            self._digests_sent = dict(self.digests)
            report["digests_file"] = str(self._write_digests())
        self._feed_admin(report)

    def _feed_admin(self, message: dict[str, Any]) -> None:
        if self._admin_feed is None:
            return
        try:
            os.write(self._admin_feed, json.dumps(message).encode() + b"\n")
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.EAGAIN):
                raise

    def _write_digests(self) -> Path:
        target = self._state_directory() / "digests.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.digests))
        os.replace(temporary, target)
        return target

    # -- shutdown ---------------------------------------------------------------------------

    def _signal_admin_reload(self) -> None:
        for child in list(self.children.values()):
            if child.role == "admin":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGHUP)

    def _signal_children(self, signum: int) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _shutdown(self) -> None:
        self.stopping = True
        self._stop_accepting()
        if self.children:
            log.info("Stopping: letting in-flight requests finish.")
        self._signal_children(signal.SIGTERM)
        deadline = time.monotonic() + grace_period(self.config) + 5.0
        while self.children and time.monotonic() < deadline:
            self._poll(0.05)
        if self.children:
            log.warning(
                "Killing %d child process(es) that did not stop in time.", len(self.children)
            )
            self._signal_children(signal.SIGKILL)
            while self.children:
                self._poll(0.05)
        if self.nats_server is not None:
            self.nats_server.stop()
        if self.metrics_dir is not None:
            multiprocess.remove_directory(self.metrics_dir)
        if self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
        self._close_sockets()
        log.info("pyjinn stopped.")

    def _stop_accepting(self) -> None:
        """Take every site's listening socket out of the listening state, for all processes at
        once (they share it): new clients are refused at once, and connections still waiting
        in the backlog are reset rather than left for workers that are about to stop."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _close_sockets(self) -> None:
        for sock in self._sockets:
            sock.close()
        if self._admin_socket is not None:
            self._admin_socket.close()
        if self._span_socket is not None:
            self._span_socket.close()


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"
