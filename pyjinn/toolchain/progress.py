"""Build progress: what a slow compiler is doing while ``pyjinn build`` waits for it.

``build_function`` opens a ``showing`` block around each compile; compilers that know their
steps (Go's packages, cargo's crates) call ``report`` for each one. Where nobody watches (no
``Progress`` given) ``report`` does nothing, and the build prints only its usual one line per
function. ``progress_for`` picks the display: a spinner on a terminal, and elsewhere (logs, CI)
a line when a build starts and now and then while it goes on, so a long first build says why.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:  # rich is imported when a spinner is shown: `pyjinn up` starts without it
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class Progress(Protocol):
    """Receives what one build is doing: ``begin``, any number of ``step``, then ``end``."""

    def begin(self, what: str) -> None: ...

    def step(self, text: str) -> None: ...

    def end(self) -> None: ...


_active: ContextVar[Progress | None] = ContextVar("pyjinn_build_progress", default=None)


@contextmanager
def showing(progress: Progress | None, what: str) -> Iterator[None]:
    """Show ``progress`` for the build of ``what`` (``functions/x.wasm (go)``) inside the block."""
    if progress is None:
        yield
        return
    progress.begin(what)
    token = _active.set(progress)
    try:
        yield
    finally:
        _active.reset(token)
        progress.end()


def report(step: str) -> None:
    """Tell whoever watches the current build about a step (``compiling encoding/json``)."""
    progress = _active.get()
    if progress is not None:
        progress.step(step)


class TerminalProgress:
    """A spinner line on a terminal: what is being built, the time so far, the latest step.

    The line is removed when the build ends, leaving the usual ``Built ... in N s.`` line.
    """

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self._console = console or Console()
        self._display: RichProgress | None = None
        self._task: TaskID | None = None

    def begin(self, what: str) -> None:
        from rich.progress import Progress as RichProgress
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        self._display = RichProgress(
            SpinnerColumn(),
            TextColumn("Building {task.description}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[step]}"),
            console=self._console,
            transient=True,
        )
        self._task = self._display.add_task(what, step="", total=None)
        self._display.start()

    def step(self, text: str) -> None:
        if self._display is not None and self._task is not None:
            self._display.update(self._task, step=text)

    def end(self) -> None:
        if self._display is not None:
            self._display.stop()
        self._display = self._task = None


# Shown with a step that is still running after HINT_AFTER seconds: some steps are long the
# first time only, and a user waiting half a minute should know why (languages add theirs).
HINT_AFTER = 3.0
REPEAT_SECONDS = 10.0
HINTS: dict[str, str] = {
    "c": "the first C build compiles wasi-libc once, about 30 s",
    "zig": "the first Zig build compiles its standard library once",
    "rust": "a Rust build links the standard library with link-time optimisation, 6-25 s",
    "go": "the first Go build compiles Go's runtime for wasip1 once, up to 30 s",
    "assemblyscript": "the first AssemblyScript build installs asc from npm once",
}


class LineProgress:
    """Progress where no terminal shows a spinner (logs, CI): a line when a build starts, and
    one every ``REPEAT_SECONDS`` while it goes on (the first after ``HINT_AFTER`` seconds,
    with the language's hint), each with the latest step."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._what = ""
        self._step = ""
        self._done = threading.Event()
        self._ticker: threading.Thread | None = None

    def begin(self, what: str) -> None:
        self._what, self._step = what, ""
        self._write(f"Building {what}…")
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="pyjinn-progress", daemon=True)
        self._ticker.start()

    def step(self, text: str) -> None:
        self._step = text

    def end(self) -> None:
        self._done.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    def _tick(self) -> None:
        started = time.monotonic()
        lang = self._what.rsplit("(", 1)[-1].rstrip(")")
        first = True
        while not self._done.wait(HINT_AFTER if first else REPEAT_SECONDS):
            hint = HINTS.get(lang) if first else None
            extra = "; ".join(part for part in (self._step, hint) if part)
            seconds = time.monotonic() - started
            self._write(
                f"Building {self._what}: still working after {seconds:.0f} s"
                + (f" ({extra})" if extra else "")
            )
            first = False

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()


def progress_for(stream: TextIO | None = None) -> Progress:
    """The progress display for ``stream`` (stderr): a spinner on a terminal, lines elsewhere."""
    output = stream if stream is not None else sys.stderr
    if output.isatty():
        from rich.console import Console

        return TerminalProgress(Console(file=output))
    return LineProgress(output)
