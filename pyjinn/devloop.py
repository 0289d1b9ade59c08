"""``pyjinn dev``: serve a project, and rebuild and reload what changes while you edit it.

The server is a ``pyjinn up`` child process (one worker by default), so it is exactly what
production runs; this process only watches files (``watchfiles``) and drives it:

- a function's sources change (``functions/NAME/``, the project's ``sdk/``): the functions
  whose modules are older than their sources are rebuilt and signed when a key is configured;
  when a build succeeds the server reloads (SIGHUP) and serves it, in well under a second after
  the build; a compile error is printed and the last good version keeps serving;
- the Caddyfile (or a file it imports) or a module file changes: the server reloads; a
  configuration it refuses is printed by it and the previous one keeps serving.

The server's logs go to the same terminal, readable and coloured there (JSON elsewhere).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import watchfiles

from pyjinn.toolchain.build import BuildResult
from pyjinn.toolchain.progress import Progress
from pyjinn.toolchain.project import build_project

IGNORED_DIRECTORIES = ("data", "node_modules", "target", "__pycache__")
# Where watchfiles is asked to wake up without changes, to notice a server that exited.
POLL_MILLISECONDS = 500
GRACE_AFTER_CTRL_C = 10.0  # for the server to drain on its own before it is told to stop


class DevLoop:
    """One ``pyjinn dev`` session: the watcher, the builds, and the server child process."""

    def __init__(
        self,
        caddyfile: Path,
        server_command: list[str],
        *,
        echo: Callable[[str], None] = print,
        failed: Callable[[str], None] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.caddyfile = caddyfile.absolute()
        self.root = self.caddyfile.parent
        self.server_command = server_command
        self.echo = echo
        self.failed = failed or echo
        self.progress = progress
        self.stop = threading.Event()
        self.server: subprocess.Popen[bytes] | None = None
        self._built: dict[Path, int] = {}  # modules this loop wrote, with their mtime
        self._exit_noticed = False

    def run(self) -> int:
        """Build, serve, and watch until stopped (SIGTERM, SIGINT). A server that cannot start
        or stops (a Caddyfile error, a module that never built) starts again at the next
        change."""
        self.build()
        self._start_server()
        previous = signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        self.echo(f"Watching {self.root} for changes; Ctrl-C stops.")
        interrupted = False
        try:
            for changes in watchfiles.watch(
                self.root,
                watch_filter=self._watched,
                stop_event=self.stop,
                rust_timeout=POLL_MILLISECONDS,
                yield_on_timeout=True,
            ):
                self._notice_exit()
                if changes:
                    self.changed({Path(path) for _, path in changes})
        except KeyboardInterrupt:
            interrupted = True  # Ctrl-C reached the server too: it is draining already
        finally:
            signal.signal(signal.SIGTERM, previous)
            status = self._stop_server(grace=GRACE_AFTER_CTRL_C if interrupted else 0.0)
        return status

    def changed(self, paths: set[Path]) -> None:
        """React to changed files: rebuild what needs it, then reload if anything changed."""
        paths = {path for path in paths if not self._is_own_output(path)}
        if not paths:
            return
        reload = any(self._is_config(path) or path.suffix in (".wasm", ".wat") for path in paths)
        if any(self._is_source(path) for path in paths):
            built = self.build()
            reload = reload or any(r.ok and not r.up_to_date for r in built)
        if self.server is None or self.server.poll() is not None:
            self._start_server()
        elif reload:
            self.echo("Reloading the server.")
            self.server.send_signal(signal.SIGHUP)

    def _start_server(self) -> None:
        # Traps of modules built with debug information show source files and lines.
        environment = {"WASMTIME_BACKTRACE_DETAILS": "1", **os.environ}
        self.server = subprocess.Popen(
            self.server_command, stdin=subprocess.DEVNULL, env=environment
        )
        self._exit_noticed = False

    def _notice_exit(self) -> None:
        server = self.server
        if server is not None and not self._exit_noticed and server.poll() is not None:
            self._exit_noticed = True
            self.failed(
                f"The server exited with status {server.returncode}; it starts again when a "
                "file changes."
            )

    def build(self) -> list[BuildResult]:
        """Rebuild every function whose sources are newer than its module, then sign."""
        results = build_project(self.root, echo=self._report, progress=self.progress)
        for result in results:
            if result.ok and not result.up_to_date:
                with contextlib.suppress(OSError):
                    self._built[result.output.absolute()] = result.output.stat().st_mtime_ns
        self._sign(r.output for r in results if r.ok and not r.up_to_date)
        return results

    def _sign(self, modules: Iterable[Path]) -> None:
        from pyjinn.config import load
        from pyjinn.errors import PyjinnError
        from pyjinn.toolchain.project import sign_modules

        wanted = list(modules)
        if not wanted:
            return
        try:
            signed = sign_modules(load(self.caddyfile), wanted, self.echo)
        except PyjinnError as error:
            self.failed(f"Not signed: {error}")
            return
        for module in signed:
            self._built[module.absolute()] = module.stat().st_mtime_ns

    def _report(self, line: str) -> None:
        if line.startswith("Failed to build"):
            self.failed(line + " Still serving the last good version.")
        elif line.startswith("    "):
            self.failed(line)
        else:
            self.echo(line)

    def _is_own_output(self, path: Path) -> bool:
        """A module this loop has just built (or signed): its change is no news."""
        mtime = self._built.get(path.absolute())
        try:
            return mtime is not None and path.stat().st_mtime_ns == mtime
        except OSError:
            return False

    def _is_config(self, path: Path) -> bool:
        return path == self.caddyfile or path.suffix == ".caddy" or path.name == "Caddyfile"

    def _is_source(self, path: Path) -> bool:
        parts = path.relative_to(self.root).parts if path.is_relative_to(self.root) else ()
        in_function = len(parts) > 2 and parts[0] == "functions"
        return in_function or (bool(parts) and parts[0] == "sdk")

    def _watched(self, change: watchfiles.Change, path: str) -> bool:
        relative = (
            Path(path).relative_to(self.root).parts if path.startswith(str(self.root)) else ()
        )
        if any(part.startswith(".") for part in relative):
            return False  # .git, .zig-cache, editor swap files, partial builds
        if relative and relative[0] in IGNORED_DIRECTORIES:
            return False
        return not path.endswith(("~", ".partial", ".tmp"))

    def _stop_server(self, grace: float) -> int:
        server = self.server
        if server is None:
            return 0
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(grace)
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                return server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
        return server.wait()


def server_command(caddyfile: Path, arguments: list[str]) -> list[str]:
    """The ``pyjinn up`` child of ``pyjinn dev``: this interpreter, this pyjinn."""
    return [sys.executable, "-m", "pyjinn", "up", str(caddyfile), "--no-build", *arguments]
