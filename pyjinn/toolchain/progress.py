"""Progress for long build steps: a spinner with the time spent on a terminal, and elsewhere
a line when a step starts and then every ``REPEAT_SECONDS`` (logs stay readable).

Some steps are long the first time only; ``HINTS`` says so per language, so a user waiting
half a minute knows why (languages add their own line).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from rich.console import Console

from pyjinn.toolchain.build import Progress

REPEAT_SECONDS = 10.0
# Shown with a step that is still running after HINT_AFTER seconds.
HINT_AFTER = 3.0
HINTS: dict[str, str] = {
    "c": "the first C build compiles wasi-libc once, about 30 s",
    "zig": "the first Zig build compiles its standard library once",
}


def progress_for(stream: TextIO | None = None) -> Progress:
    """A ``Progress`` (see ``pyjinn.toolchain.build``) that writes to ``stream`` (stderr)."""
    output = stream if stream is not None else sys.stderr

    def progress(what: str, lang: str) -> contextlib.AbstractContextManager[object]:
        if output.isatty():
            return _spinner(output, what, HINTS.get(lang))
        return _lines(output, what, HINTS.get(lang))

    return progress


@contextlib.contextmanager
def _spinner(output: TextIO, what: str, hint: str | None) -> Iterator[object]:
    console = Console(file=output)
    started = time.monotonic()
    with console.status(f"{what}…") as status:
        done = threading.Event()

        def tick() -> None:
            while not done.wait(0.5):
                elapsed = time.monotonic() - started
                extra = f" ({hint})" if hint and elapsed > HINT_AFTER else ""
                status.update(f"{what}… {elapsed:.0f} s{extra}")

        ticker = threading.Thread(target=tick, name="pyjinn-progress", daemon=True)
        ticker.start()
        try:
            yield status
        finally:
            done.set()
            ticker.join()


@contextlib.contextmanager
def _lines(output: TextIO, what: str, hint: str | None) -> Iterator[object]:
    started = time.monotonic()
    output.write(f"{what}…\n")
    output.flush()
    done = threading.Event()

    def repeat() -> None:
        first = True
        while not done.wait(HINT_AFTER if first else REPEAT_SECONDS):
            elapsed = time.monotonic() - started
            extra = f" ({hint})" if hint and first else ""
            output.write(f"{what}: still working after {elapsed:.0f} s{extra}\n")
            output.flush()
            first = False

    ticker = threading.Thread(target=repeat, name="pyjinn-progress", daemon=True)
    ticker.start()
    try:
        yield None
    finally:
        done.set()
        ticker.join()
