"""Gojinn's crash dumps, read as degraded records.

Gojinn writes ``crash_tenant_<T>_<time>_seq<N>.json`` holding ``timestamp``, ``error`` (text),
``input`` (the request envelope), ``env`` (every value, secrets included) and ``wasm_file``.
That is enough to run the module on the same input, but not to reproduce the failure exactly:
the dump has no host call results, clock or random values, limits or backtrace. A replay of
one therefore serves clocks and random values live, cannot answer any host call, and can only
say whether the module still fails.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyjinn.config.model import Limits
from pyjinn.debug.record import FORMAT, VERSION, CrashRecord, RecordError
from pyjinn.engine.modules import read_module_bytes
from pyjinn.errors import ModuleError

LIMITATIONS = (
    "a Gojinn crash dump keeps only the input and the environment: host calls cannot be "
    "answered (a guest that makes one diverges there), clock and random values are live, the "
    "limits are pyjinn's defaults, and only whether the module fails can be compared"
)


def is_gojinn_dump(data: bytes) -> bool:
    """Whether ``data`` looks like a Gojinn crash dump (a JSON object with input and wasm_file)."""
    if not data.lstrip().startswith(b"{"):
        return False
    try:
        document = json.loads(data)
    except ValueError:
        return False
    return isinstance(document, dict) and "input" in document and "wasm_file" in document


def read_gojinn_dump(path: Path, module: Path | None = None) -> tuple[CrashRecord, bytes]:
    """The degraded record of the Gojinn dump at ``path``, and its module's bytes (read from
    ``module`` if given, else from the dump's ``wasm_file``, relative to the dump's directory)."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise RecordError(f"cannot read the Gojinn crash dump {path}: {error}") from None
    raw_input = document.get("input")
    if isinstance(raw_input, str):
        stdin = raw_input.encode()
    elif raw_input is None:
        stdin = b""
    else:
        stdin = json.dumps(raw_input, separators=(",", ":")).encode()
    wasm_file = Path(str(document.get("wasm_file", "")))
    module_path = module or (wasm_file if wasm_file.is_absolute() else path.parent / wasm_file)
    try:
        module_bytes = read_module_bytes(module_path)
    except ModuleError as error:
        raise RecordError(
            f"the Gojinn crash dump names the module {wasm_file}, which cannot be read ({error}); "
            "give it with --module"
        ) from None
    env = document.get("env") or {}
    limits = Limits()
    record_document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "id": path.stem,
        "created": str(document.get("timestamp", "")),
        "kind": "gojinn",
        "function": module_path.stem,
        "tenant": "",
        "trace_id": "",
        "module": {"sha256": "", "file": str(module_path), "size": len(module_bytes)},
        "config": {
            "limits": {
                "timeout_seconds": limits.timeout,
                "memory_limit_bytes": limits.memory_limit,
                "fuel_limit": limits.fuel_limit,
                "stdout_limit_bytes": limits.stdout_limit,
                "stderr_limit_bytes": limits.stderr_limit,
                "max_body_bytes": limits.max_body,
            }
        },
        "sandbox": {
            "argv": [module_path.name],
            "env": [{"name": str(name), "value": str(value)} for name, value in env.items()],
            "mounts": [],
        },
        "stdin": {"size": len(stdin), "redacted": []},
        "host_calls": [],
        "clocks": {"readings": 0, "complete": False},
        "random": {"calls": [], "redacted": []},
        "polls": [],
        "outcome": {"ok": False, "kind": "failed", "detail": str(document.get("error", ""))},
        "notes": [LIMITATIONS],
        "secrets": [],
        "gojinn": {"limits": asdict(limits)},
    }
    return CrashRecord(record_document, {"stdin": stdin}, path, len(stdin)), module_bytes
