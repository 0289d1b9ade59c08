"""Fixtures for toolchain tests: request envelopes, a guest runner, and built example modules.

``run_guest`` runs a module directly with wasmtime-py. It is the only place these tests enter
wasm: to run them through pyjinn's own engine instead, change what the ``invoke`` fixture
returns.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import wasmtime

from pyjinn.toolchain import BuildResult, build_all

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@functools.cache
def engine() -> wasmtime.Engine:
    """Made on first use, not at import: pytest imports the conftest of a directory given on
    its command line before it enables faulthandler, and a fault handler installed after
    wasmtime's takes every guest trap (a SIGILL wasmtime would have handled) for a crash."""
    return wasmtime.Engine()


@dataclass(frozen=True)
class GuestRun:
    """What one run of a guest produced: its exit code, raw streams, and parsed response."""

    exit_code: int
    stdout: bytes
    stderr: str
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return int(self.response["status"])

    @property
    def body(self) -> str:
        return str(self.response["body"])

    def header(self, name: str) -> list[str]:
        """A response header's values, whether the guest wrote a list or a single string."""
        value = self.response["headers"][name]
        return [value] if isinstance(value, str) else list(value)

    def json_body(self) -> Any:
        return json.loads(self.body)


def make_request(
    uri: str = "/",
    *,
    method: str = "GET",
    headers: Mapping[str, Sequence[str]] | None = None,
    body: bytes | str = b"",
) -> bytes:
    """The JSON envelope the host writes to a guest's stdin, built like the host builds it."""
    parts = urlsplit(uri)
    envelope: dict[str, Any] = {
        "method": method,
        "uri": uri,
        "path": parts.path or "/",
        "query": parse_qs(parts.query, keep_blank_values=True),
        "headers": {name: list(values) for name, values in (headers or {}).items()},
        "remote_addr": "127.0.0.1:5555",
        "trace_id": "0123456789abcdef0123456789abcdef",
    }
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        envelope["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        envelope["body"] = base64.b64encode(body).decode("ascii")
        envelope["body_encoding"] = "base64"
    return json.dumps(envelope).encode("utf-8")


def run_guest(
    module_path: Path,
    stdin: bytes,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> GuestRun:
    """Run a WASI command module once with wasmtime-py and parse its response (if any).

    The guest sees exactly ``env`` and ``argv = [module name, *args]``, nothing else.
    """
    with tempfile.TemporaryDirectory(prefix="pyjinn-guest-") as work_dir:
        work = Path(work_dir)
        stdin_path, stdout_path, stderr_path = work / "stdin", work / "stdout", work / "stderr"
        stdin_path.write_bytes(stdin)
        wasi = wasmtime.WasiConfig()
        wasi.stdin_file = str(stdin_path)
        wasi.stdout_file = str(stdout_path)
        wasi.stderr_file = str(stderr_path)
        wasi.env = list((env or {}).items())
        wasi.argv = [module_path.name, *args]
        store = wasmtime.Store(engine())
        store.set_wasi(wasi)
        linker = wasmtime.Linker(engine())
        linker.define_wasi()
        instance = linker.instantiate(store, wasmtime.Module.from_file(engine(), str(module_path)))
        start = instance.exports(store)["_start"]
        assert isinstance(start, wasmtime.Func)
        exit_code = 0
        try:
            start(store)
        except wasmtime.ExitTrap as exit_trap:
            exit_code = exit_trap.code
        stdout = stdout_path.read_bytes()
        stderr = stderr_path.read_text(encoding="utf-8", errors="replace")
    response = json.loads(stdout) if stdout.strip() else {}
    return GuestRun(exit_code, stdout, stderr, response)


def built_later(output: Path) -> int:
    """Write ``output`` with a time a second after now (its inputs were written just before)."""
    output.write_bytes(b"")
    later = output.stat().st_mtime_ns + 1_000_000_000
    os.utime(output, ns=(later, later))
    return later


Invoke = Callable[..., GuestRun]


@pytest.fixture
def invoke() -> Invoke:
    """``invoke(module_path, stdin_bytes, env=..., args=...) -> GuestRun``."""
    return run_guest


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BuildResult]:
    """The example project copied to a temporary directory and built there, once per session."""
    root = tmp_path_factory.mktemp("examples") / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("*.wasm", "data", ".target"))
    # Examples reach the SDK through ../sdk, as in the repository.
    shutil.copytree(EXAMPLES.parent / "sdk", root.parent / "sdk")
    results = build_all(root, echo=lambda line: None)
    return {result.name: result for result in results}
