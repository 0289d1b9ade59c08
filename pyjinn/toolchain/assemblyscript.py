"""The AssemblyScript toolchain: found in the project, or installed once from npm.

``pyjinn build`` compiles AssemblyScript with ``asc`` from the npm package ``assemblyscript``,
with ``@assemblyscript/wasi-shim`` supplying WASI (abort, clocks, randomness, stdio). It uses
the pair installed in the function's project (a ``node_modules`` in the function's directory or
above it), else the pinned pair in pyjinn's toolchain cache (``$XDG_CACHE_HOME/pyjinn/
toolchains``, or ``PYJINN_TOOLCHAINS``), which it installs there with npm the first time (a few
seconds, about 100 MB, most of it binaryen). Node.js and npm come from the system
(``apt-get install nodejs npm``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ASSEMBLYSCRIPT_VERSION = "0.28.20"
WASI_SHIM_VERSION = "0.1.0"
_ASC = Path("node_modules") / "assemblyscript" / "bin" / "asc.js"
_SHIM_CONFIG = Path("node_modules") / "@assemblyscript" / "wasi-shim" / "asconfig.json"


class ToolchainMissing(Exception):
    """AssemblyScript cannot be found or installed; the message says what to install."""


@dataclass(frozen=True)
class Toolchain:
    node: str
    asc: Path  # asc.js, run with node
    shim_config: Path  # the wasi-shim's asconfig.json, given to asc as --config
    installed_by_pyjinn: bool


def toolchains_home() -> Path:
    """Where pyjinn installs guest toolchains it fetches from registries."""
    override = os.environ.get("PYJINN_TOOLCHAINS")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyjinn" / "toolchains"


def find_or_install(function_directory: Path) -> Toolchain:
    """The AssemblyScript toolchain for a function; installs the pinned one when none is found.
    Raises ``ToolchainMissing`` without Node.js, or when npm fails."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainMissing(
            "AssemblyScript needs Node.js and npm; install them with: apt-get install nodejs npm"
        )
    for directory in (function_directory.absolute(), *function_directory.absolute().parents):
        if (directory / _ASC).is_file() and (directory / _SHIM_CONFIG).is_file():
            return Toolchain(node, directory / _ASC, directory / _SHIM_CONFIG, False)
    home = toolchains_home() / f"assemblyscript-{ASSEMBLYSCRIPT_VERSION}"
    if not ((home / _ASC).is_file() and (home / _SHIM_CONFIG).is_file()):
        _install(home)
    return Toolchain(node, home / _ASC, home / _SHIM_CONFIG, True)


def _install(home: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainMissing(
            "AssemblyScript is installed with npm, which is missing; install it with: "
            "apt-get install npm"
        )
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two builds at once install once
        if (home / _ASC).is_file() and (home / _SHIM_CONFIG).is_file():
            return
        manifest = {
            "name": "pyjinn-assemblyscript-toolchain",
            "private": True,
            "devDependencies": {
                "assemblyscript": ASSEMBLYSCRIPT_VERSION,
                "@assemblyscript/wasi-shim": WASI_SHIM_VERSION,
            },
        }
        (home / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
        command = [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"]
        completed = subprocess.run(
            command,
            cwd=home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ToolchainMissing(
                f"npm could not install assemblyscript@{ASSEMBLYSCRIPT_VERSION} and "
                f"@assemblyscript/wasi-shim@{WASI_SHIM_VERSION} into {home}:\n"
                f"{(completed.stderr or completed.stdout).strip()}"
            )
