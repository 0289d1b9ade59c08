"""Build progress: what a slow compiler is doing while ``pyjinn build`` waits for it.

``build_function`` opens a ``showing`` block around each compile; compilers that know their
steps (Go's packages, cargo's crates) call ``report`` for each one. Where nobody watches (no
``Progress`` given, as when the output is not a terminal) ``report`` does nothing, and the build
prints only its usual one line per function.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


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
        self._console = console or Console()
        self._display: RichProgress | None = None
        self._task: TaskID | None = None

    def begin(self, what: str) -> None:
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
