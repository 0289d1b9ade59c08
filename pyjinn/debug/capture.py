"""From a finished invocation to its crash record.

The invocation pipeline hands over a :class:`Capture` (references only, built in a few hundred
nanoseconds) after the invocation has finished; :func:`build_record` turns it into a record on
the record writer's thread: it takes out the secrets, encodes the host calls, writes the
coredump and compresses it all, off the request path.
"""

from __future__ import annotations

import hashlib
import logging
import secrets as random_tokens
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyjinn.abi import BY_NAME, VARIANTS, ErrorCode
from pyjinn.config.model import FunctionSpec
from pyjinn.debug import coredump, mounts
from pyjinn.debug.record import FORMAT, OUTPUT_CAP, VERSION, CrashRecord, encode_value
from pyjinn.debug.secrets import Secrets
from pyjinn.engine.clocks import MAX_LOGGED
from pyjinn.engine.context import CLOCK_ENTRY
from pyjinn.engine.snapshot import MemoryImage
from pyjinn.errors import GuestError, InvocationError

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Run

log = logging.getLogger("pyjinn.debug")

# Why a record was written.
CRASH, REQUESTED, SAMPLED = "crash", "requested", "sampled"
_TRAP_NAMES = {
    0: "stack overflow",
    1: "out-of-bounds memory access",
    2: "misaligned memory access",
    3: "out-of-bounds table access",
    4: "indirect call to a null table entry",
    5: "indirect call signature mismatch",
    6: "integer overflow",
    7: "integer division by zero",
    8: "invalid conversion to integer",
    9: "unreachable instruction executed",
    10: "interrupt",
    11: "out of fuel",
}
_MODULES = {(function.name, function.capability): function.module for function in BY_NAME.values()}
_MODULES.update({(function.name, function.capability): function.module for function in VARIANTS})


@dataclass(slots=True)
class Capture:
    """Everything a record is made of, as the pipeline had it when the invocation finished."""

    kind: str
    spec: FunctionSpec
    digest: str
    module_bytes: Callable[[], bytes]
    run: Run
    stdin: bytes
    argv: Sequence[str]
    error: InvocationError | None
    status: int
    trigger: str
    method: str
    target: str
    trace_id: str
    tenant: str
    started: float  # wall clock, seconds since the epoch
    duration: float  # seconds
    # Secret values this invocation's guest received besides the configured ones: credential
    # headers the function is forwarded, by name (HTTP_AUTHORIZATION).
    credentials: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def weight(self) -> int:
        """Roughly the bytes it holds on to until written."""
        run = self.run
        memory = len(run.memory.data) if run.memory is not None else 0
        return len(self.stdin) + len(run.stdout) + len(run.stderr) + memory


def secrets_of(spec: FunctionSpec, credentials: Sequence[tuple[str, bytes]] = ()) -> Secrets:
    """The secrets a record of ``spec`` must not contain: environment values that came from a
    placeholder, the debug secret, and the credentials given."""
    items: list[tuple[str, str | bytes]] = [
        (name, value) for name, value in spec.env if name in spec.secret_env
    ]
    if spec.debug_secret:
        items.append(("PYJINN_DEBUG_SECRET", spec.debug_secret))
    items.extend(credentials)
    return Secrets(items)


def new_id(started: float, function: str) -> str:
    """A record id: its UTC time (sorts in time order), the function, a random suffix."""
    moment = datetime.fromtimestamp(started, UTC)
    return (
        f"{moment:%Y%m%dT%H%M%S}.{moment.microsecond // 1000:03d}Z-{function}-"
        f"{random_tokens.token_hex(3)}"
    )


def build_record(capture: Capture) -> tuple[CrashRecord, bytes | None]:
    """The record of ``capture``, and the module's bytes (None when they could not be had)."""
    spec, run = capture.spec, capture.run
    secrets = secrets_of(spec, capture.credentials)
    notes: list[str] = []
    module = _module_bytes(capture, notes)
    stdin, stdin_spans = secrets.redact(capture.stdin)
    stdout, _ = secrets.redact(run.stdout[:OUTPUT_CAP])
    stderr, _ = secrets.redact(run.stderr[:OUTPUT_CAP])
    randomness = b"".join(run.randomness or ())
    random_data, random_spans = secrets.redact(randomness)
    clock_log = bytes(run.clock_log)
    readings = len(clock_log) // CLOCK_ENTRY.size
    if readings >= MAX_LOGGED:
        notes.append(
            f"the guest read the clock more than {MAX_LOGGED} times; the record keeps the first "
            f"{MAX_LOGGED} readings, and a replay stops at the next one"
        )
    if run.host_calls_dropped:
        notes.append(
            f"the guest made {len(run.host_calls) + run.host_calls_dropped} host calls; the "
            f"record keeps the first {len(run.host_calls)} (its budget), and a replay stops at "
            "the next one"
        )
    members = {"stdin": stdin, "stdout": stdout, "stderr": stderr, "clocks": clock_log}
    if random_data:
        members["random"] = random_data
    if run.memory is not None:
        frames = [(index, offset) for index, offset, _, _ in (run.backtrace or ((), 0))[0]]
        members["core.wasm"] = coredump.build(
            spec.module_path.name, frames, _without_secrets(run.memory, secrets)
        )
    elif capture.error is not None and capture.error.kind != "invalid_output":
        notes.append("no memory image: the invocation failed before the guest had an instance")
    if capture.error is not None and capture.error.kind == "invalid_output":
        notes.append("no memory image: the guest had finished when its output was found invalid")
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "id": new_id(capture.started, spec.name),
        "created": datetime.fromtimestamp(capture.started, UTC).isoformat(timespec="milliseconds"),
        "kind": capture.kind,
        "function": spec.name,
        "tenant": capture.tenant,
        "trace_id": capture.trace_id,
        "trigger": capture.trigger,
        "method": capture.method,
        "target": secrets.redact_text(capture.target)[0],
        "module": {
            "sha256": capture.digest,
            "file": str(spec.module_path),
            "size": len(module) if module is not None else None,
        },
        "config": _configuration(spec, capture.digest),
        "sandbox": {
            "argv": [encode_value(arg, secrets) for arg in capture.argv],
            "env": [_env_entry(name, value, spec, secrets) for name, value in spec.env],
            "mounts": mounts.snapshot(spec.mounts, secrets, members, notes),
        },
        "stdin": {"size": len(stdin), "redacted": [span.to_json() for span in stdin_spans]},
        "host_calls": [_host_call(call, secrets) for call in run.host_calls],
        **({"host_calls_dropped": run.host_calls_dropped} if run.host_calls_dropped else {}),
        "clocks": {"readings": readings, "complete": readings < MAX_LOGGED},
        "random": {
            "calls": [len(chunk) for chunk in run.randomness or ()],
            "redacted": [span.to_json() for span in random_spans],
        },
        "polls": [
            {
                "subscriptions": p.subscriptions,
                "fired": [list(f) for f in p.fired],
                "timed_out": p.timed_out,
            }
            for p in run.polls or ()
        ],
        "outcome": _outcome(capture, secrets),
        "notes": notes,
        "secrets": secrets.names,
    }
    return CrashRecord(document, members), module


def _without_secrets(memory: MemoryImage, secrets: Secrets) -> MemoryImage:
    """``memory`` with every secret overwritten. A secret cannot span two runs of pages:
    a whole zero page lies between them."""
    if not secrets:
        return memory
    # The runs, one after another, are the image's data in the same order.
    cleaned = b"".join(secrets.clean(contents) for _, contents in memory.runs())
    return MemoryImage(memory.size, cleaned, memory.pages)


def _module_bytes(capture: Capture, notes: list[str]) -> bytes | None:
    try:
        data = capture.module_bytes()
    except Exception as error:  # the module source may be gone: the record is still useful
        notes.append(f"the module's bytes could not be kept: {error}")
        return None
    if hashlib.sha256(data).hexdigest() != capture.digest:
        notes.append(
            "the module's bytes could not be kept: its file changed after the function loaded it"
        )
        return None
    return data


def _configuration(spec: FunctionSpec, digest: str) -> dict[str, Any]:
    from pyjinn.runtime import describe_spec

    description = describe_spec(spec, digest)
    permissions = spec.permissions
    description["permissions"] = {
        "kv_read": list(permissions.kv_read),
        "kv_write": list(permissions.kv_write),
        "db": permissions.db,
        "blob_read": list(permissions.blob_read),
        "blob_write": list(permissions.blob_write),
    }
    description["tenant"] = spec.tenant
    return description


def _env_entry(name: str, value: str, spec: FunctionSpec, secrets: Secrets) -> dict[str, Any]:
    if name in spec.secret_env:
        return {"name": name, "redacted": True}
    return {"name": name, "value": encode_value(value, secrets)}


def _host_call(call: Any, secrets: Secrets) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "module": _MODULES.get((call.call, call.capability), ""),
        "call": call.call,
        "capability": call.capability,
        "arguments": [encode_value(argument, secrets) for argument in call.arguments],
        "seconds": round(call.seconds, 9),
    }
    if call.error is not None:
        entry["error"] = ErrorCode(call.error).name.lower()
        entry["message"] = encode_value(call.message, secrets)
    else:
        entry["result"] = encode_value(call.result, secrets)
        if call.written is not None:
            entry["written"] = encode_value(call.written, secrets)
    return entry


def _outcome(capture: Capture, secrets: Secrets) -> dict[str, Any]:
    run, error = capture.run, capture.error
    backtrace, total = run.backtrace or ((), 0)
    outcome: dict[str, Any] = {
        "ok": error is None,
        "status": capture.status,
        "kind": error.kind if error is not None else "ok",
        "blame": error.blame.value if error is not None else None,
        "message": error.client_message if error is not None else None,
        "detail": secrets.redact_text(error.detail)[0] if error is not None else None,
        "trap_code": run.trap_code if run.trap_code >= 0 else None,
        "trap": _TRAP_NAMES.get(run.trap_code) if run.trap_code >= 0 else None,
        "exit_code": run.exit_code,
        "backtrace": [
            {"function": index, "offset": offset, "module_offset": module_offset, "name": name}
            for index, offset, module_offset, name in backtrace
        ],
        "backtrace_frames": total,
        "fuel_consumed": run.fuel_consumed,
        "memory_bytes": run.memory_bytes,
        "timing_ns": dict(
            zip(("setup", "instantiate", "run", "teardown"), run.phases, strict=True)
        ),
        "duration_ms": round(capture.duration * 1000, 3),
        "stdout": {"size": len(run.stdout), "kept": min(len(run.stdout), OUTPUT_CAP)},
        "stderr": {
            "size": len(run.stderr),
            "kept": min(len(run.stderr), OUTPUT_CAP),
            "cut_at_limit": run.stderr_truncated,
        },
    }
    if isinstance(error, GuestError):
        outcome["fault"] = error.fault.label
    return outcome


def clock_readings(log: bytes) -> list[tuple[int, int, int, int]]:
    """The (call, errno, clock id, value) entries of a clock log."""
    return [CLOCK_ENTRY.unpack_from(log, offset) for offset in range(0, len(log), CLOCK_ENTRY.size)]
