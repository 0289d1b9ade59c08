"""Build progress: compilers report steps to whoever watches the build, and on a terminal a
spinner line shows them while the build runs, then gives way to the usual one-line report."""

from __future__ import annotations

import io

from rich.console import Console

from pyjinn.toolchain.progress import TerminalProgress, report, showing


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def begin(self, what: str) -> None:
        self.events.append(("begin", what))

    def step(self, text: str) -> None:
        self.events.append(("step", text))

    def end(self) -> None:
        self.events.append(("end", ""))


def test_steps_reach_the_progress_shown_for_the_build_and_only_inside_it() -> None:
    recorder = Recorder()
    report("before: nobody watches")

    try:
        with showing(recorder, "functions/a.wasm (go)"):
            report("compiling runtime")
            raise RuntimeError("the compiler failed")
    except RuntimeError:
        pass
    report("after: nobody watches")

    assert recorder.events == [
        ("begin", "functions/a.wasm (go)"),
        ("step", "compiling runtime"),
        ("end", ""),  # also when the build fails
    ]


def test_without_progress_steps_go_nowhere() -> None:
    with showing(None, "functions/a.wasm (go)"):
        report("compiling runtime")  # nothing to see, nothing raised


def test_a_terminal_shows_what_is_built_and_the_latest_step() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    progress = TerminalProgress(console)

    with showing(progress, "functions/a.wasm (go)"):
        report("compiling encoding/json")

    shown = screen.getvalue()
    assert "Building functions/a.wasm (go)" in shown
    assert "compiling encoding/json" in shown
