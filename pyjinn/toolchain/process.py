"""Running a compiler: its output collected for the user, its progress passed on as it comes.

Slow toolchains (Go's first build compiles the runtime and standard library for wasip1; cargo
builds each crate) print a line per step. ``run_compiler`` reads those lines as they are
written and hands each one to ``on_line``, which may turn it into a progress step
(``pyjinn.toolchain.progress.report``), while keeping all of them for the error message.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyjinn.toolchain.recipe import ToolchainError


class CompileFailed(ToolchainError):
    """The compiler rejected a function, or could not run; the message is what it said."""


def run_compiler(
    command: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[str, str]:
    """Run ``command`` in ``cwd``; return its (stdout, stderr) when it exits with status 0.

    stderr is read line by line as it is written, each line passed to ``on_line``. Raises
    ``CompileFailed`` with the compiler's stderr (or its exit status, when it printed nothing)
    when it fails, and when it cannot be started.
    """
    try:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
    except OSError as error:
        raise CompileFailed(f"cannot run {command[0]}: {error}") from error
    stdout, stderr = process.stdout, process.stderr
    assert stdout is not None and stderr is not None
    with process:
        # stdout (cargo's JSON messages, or nothing) is drained by a thread of its own, so a
        # full pipe on either stream cannot stall the compiler.
        stdout_parts: list[str] = []
        reader = threading.Thread(target=lambda: stdout_parts.append(stdout.read()), daemon=True)
        reader.start()
        lines: list[str] = []
        for line in stderr:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"))
        reader.join()
        status = process.wait()
    output = "".join(lines).strip()
    if status != 0:
        raise CompileFailed(
            output or f"{command[0]} exited with status {status} and printed nothing"
        )
    return "".join(stdout_parts), output
