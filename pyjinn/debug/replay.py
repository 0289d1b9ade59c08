"""Replaying a crash record: the recorded module, or a rebuilt one, in the recorded world.

The replay runs through the one door into wasm (``engine.invoke``) in a sandbox like the one the
function had: the recorded limits, argv, environment and stdin, no live backend. Every host
call and every clock, random and poll value comes from the record (``debug.world``); secrets
the record left out come from the caller (``--env`` or the environment). Then the outcome is
compared with the record's:

- ``reproduced``: the same outcome (the same trap at the same place, the same exit code, ...)
  and the same output;
- ``diverged``: the guest asked something the record cannot answer, or ended differently (the
  verdict says where);
- ``no-failure``: the recorded failure did not happen.

With a rebuilt module (``module``) the question is whether it fixes the failure: ``fixed`` (it
answers, and its response is shown), ``still-failing``, or ``diverged`` (it asked the host
something the record cannot answer).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyjinn import contract
from pyjinn.config.model import Limits
from pyjinn.debug import mounts as recorded_mounts
from pyjinn.debug.record import OUTPUT_CAP, CrashRecord, RecordError, decode_value
from pyjinn.debug.secrets import Span, restore
from pyjinn.debug.world import RecordedWorld
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import SNAPSHOT_NEVER, Run, Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from pyjinn.errors import GuestError, InvocationError, ModuleError

REPRODUCED, DIVERGED, NO_FAILURE = "reproduced", "diverged", "no-failure"
FIXED, STILL_FAILING = "fixed", "still-failing"


class MissingSecrets(RecordError):
    """The record left out secrets the replay needs, and they were not given."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__(
            f"the record needs the secret value(s) {', '.join(names)}, which it does not keep: "
            "give each with --env NAME=VALUE or set it in the environment"
        )


@dataclass
class Verdict:
    """What a replay found. ``verdict`` is one of the constants above."""

    verdict: str
    summary: str
    where: str | None = None
    recorded: dict[str, Any] = field(default_factory=dict)
    replayed: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Whether the replay showed what it was asked to (reproduced, or fixed)."""
        return self.verdict in (REPRODUCED, FIXED)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"verdict": self.verdict, "summary": self.summary}
        if self.where is not None:
            document["where"] = self.where
        document["recorded"] = self.recorded
        document["replayed"] = self.replayed
        if self.response is not None:
            document["response"] = self.response
        if self.notes:
            document["notes"] = self.notes
        return document


def secrets_needed(record: CrashRecord) -> list[str]:
    """The names of the secrets the guest received that the record left out."""
    document = record.document
    names = {entry["name"] for entry in document["sandbox"]["env"] if entry.get("redacted")}
    spans = [Span.from_json(item) for item in document.get("stdin", {}).get("redacted", ())]
    spans += [Span.from_json(item) for item in document.get("random", {}).get("redacted", ())]
    for call in document.get("host_calls", ()):
        for key in ("result", "written", "message"):
            if key in call:
                spans += decode_value(call[key]).redacted
    for argument in document["sandbox"]["argv"]:
        spans += decode_value(argument).redacted
    names.update(span.name for span in spans)
    names.update(recorded_mounts.needed_secrets(document["sandbox"]["mounts"]))
    return sorted(names)


def gather_secrets(record: CrashRecord, given: Mapping[str, str]) -> dict[str, bytes]:
    """The values of the record's secrets: from ``given`` first, then the environment."""
    values: dict[str, bytes] = {}
    missing = []
    for name in secrets_needed(record):
        value = given.get(name, os.environ.get(name))
        if value is None:
            missing.append(name)
        else:
            values[name] = value.encode()
    if missing:
        raise MissingSecrets(missing)
    return values


def replay(
    record: CrashRecord,
    module: bytes,
    *,
    rebuilt: bool = False,
    secrets: Mapping[str, bytes] | None = None,
    trace: Callable[[str], None] | None = None,
    degraded: bool = False,
    cache_dir: Path | None = None,
    debug_info: bool = False,
) -> Verdict:
    """Run ``module`` in the world of ``record`` and compare; ``rebuilt`` when ``module`` is a
    new build of the recorded one. ``degraded`` replays a record that holds the input only (a
    Gojinn crash dump): clocks and random values are live, and no host call can be answered.
    ``debug_info`` compiles the module for a native debugger (``pyjinn replay --gdb``)."""
    secrets = dict(secrets) if secrets is not None else gather_secrets(record, {})
    document = record.document
    world = RecordedWorld(record, secrets, trace=trace, live_nondeterminism=degraded)
    limits = _limits(document["config"]["limits"])
    env = [(entry["name"], _env_value(entry, secrets)) for entry in document["sandbox"]["env"]]
    argv = [_received(decode_value(value), secrets) for value in document["sandbox"]["argv"]]
    stdin = restore(
        record.member("stdin"),
        [Span.from_json(item) for item in document["stdin"].get("redacted", ())],
        secrets,
    )
    notes = list(document.get("notes", ()))
    engine = Engine(max_instances=2, debug_info=debug_info)
    engine.start()
    with tempfile.TemporaryDirectory(prefix="pyjinn-replay-") as scratch:
        mounts = recorded_mounts.lay_out(
            document["sandbox"]["mounts"], record.members, secrets, Path(scratch), notes
        )
        try:
            loader = ModuleLoader(engine, cache_dir, replay=True)
            name = Path(document["module"]["file"]).name
            compiled = loader.load_bytes(
                Path(name),
                module,
                symlinks=False,
                writable_mounts=any(mount.writable for mount in mounts),
            )
            sandbox = Sandbox(
                engine,
                limits,
                argv=argv,
                env=env,
                mounts=mounts,
                host=world.host(document["function"]),
                snapshot=SNAPSHOT_NEVER,
            )
            run = invoke(
                engine,
                compiled,
                sandbox,
                stdin,
                tenant=document.get("tenant", ""),
                trace_id=document.get("trace_id", ""),
                replay=world,
            )
        finally:
            engine.close()
    return _verdict(record, world, run, rebuilt, degraded, notes)


def _verdict(
    record: CrashRecord,
    world: RecordedWorld,
    run: Run,
    rebuilt: bool,
    degraded: bool,
    notes: list[str],
) -> Verdict:
    recorded = record.document["outcome"]
    error, response = _classify(run)
    replayed = _describe(run, error, response)
    expected = _expected(recorded)

    def verdict(
        name: str, summary: str, where: str | None = None, response: dict[str, Any] | None = None
    ) -> Verdict:
        return Verdict(name, summary, where, expected, replayed, response, notes)

    if world.divergence is not None:
        what = "the rebuilt module" if rebuilt else "the replay"
        return verdict(
            DIVERGED,
            f"{what} asked what the record cannot answer: {world.divergence}",
            world.divergence,
        )
    if rebuilt:
        if error is None:
            assert response is not None
            return verdict(
                FIXED,
                f"the rebuilt module answers {response.status} without failing",
                response=_response(response),
            )
        return verdict(STILL_FAILING, f"the rebuilt module still fails: {_failure(replayed)}")
    recorded_failed = not recorded["ok"]
    if recorded_failed and error is None:
        return verdict(
            NO_FAILURE,
            f"the replay answered {replayed['status']} without failing; the record failed with "
            f"{_failure(expected)}",
        )
    difference = _difference(expected, replayed, record, run, world, degraded)
    if difference is not None:
        return verdict(DIVERGED, f"the replay ended differently: {difference}", difference)
    if degraded:
        notes.append(
            "a Gojinn crash dump keeps the input and environment only: the failure's kind is "
            "all that could be compared (not where it happened, nor the output)"
        )
    what = (
        f"the same failure, {_failure(replayed)}"
        if recorded_failed
        else f"the same answer ({replayed['status']})"
    )
    return verdict(REPRODUCED, what)


def _classify(run: Run) -> tuple[InvocationError | None, contract.Response | None]:
    if run.error is not None:
        return run.error, None
    try:
        return None, contract.decode_response(run.stdout)
    except GuestError as error:
        return error, None


def _describe(
    run: Run, error: InvocationError | None, response: contract.Response | None
) -> dict[str, Any]:
    frames = (run.backtrace or ((), 0))[0]
    described: dict[str, Any] = {
        "ok": error is None,
        "kind": error.kind if error is not None else "ok",
        "status": error.status if error is not None else (response.status if response else None),
        "detail": error.detail if error is not None else None,
        "trap_code": run.trap_code if run.trap_code >= 0 else None,
        "exit_code": run.exit_code,
        "location": _location(frames[0][0], frames[0][1], frames[0][3]) if frames else None,
        "module_offset": frames[0][2] if frames else None,
        "stdout_bytes": len(run.stdout),
    }
    return described


def _expected(recorded: dict[str, Any]) -> dict[str, Any]:
    frames = recorded.get("backtrace") or []
    top = frames[0] if frames else None
    return {
        "ok": recorded["ok"],
        "kind": recorded["kind"],
        "status": recorded.get("status"),
        "detail": recorded.get("detail"),
        "trap_code": recorded.get("trap_code"),
        "exit_code": recorded.get("exit_code"),
        "location": _location(top["function"], top["offset"], top.get("name", "")) if top else None,
        "module_offset": top["module_offset"] if top else None,
        "stdout_bytes": recorded.get("stdout", {}).get("size"),
    }


def _difference(
    expected: dict[str, Any],
    replayed: dict[str, Any],
    record: CrashRecord,
    run: Run,
    world: RecordedWorld,
    degraded: bool,
) -> str | None:
    if expected["ok"] != replayed["ok"]:
        return f"the record answered without failing, the replay failed with {_failure(replayed)}"
    if degraded:
        return None  # a Gojinn dump says only that the module failed
    if expected["kind"] != replayed["kind"]:
        return f"the record failed with {_failure(expected)}, the replay with {_failure(replayed)}"
    if expected["kind"] not in ("timeout",):
        # A timeout stops the guest wherever it is; every other failure happens at one place.
        for key, what in (("trap_code", "trap"), ("location", "place"), ("exit_code", "exit")):
            if expected[key] != replayed[key]:
                return (
                    f"the {what} differs: the record has {expected[key]}, the replay "
                    f"{replayed[key]}"
                )
    kept = record.member("stdout")
    produced = world.redactor.redact(run.stdout[:OUTPUT_CAP])[0]
    if produced != kept or len(run.stdout) != expected["stdout_bytes"]:
        return (
            f"the output differs: the record has {expected['stdout_bytes']} bytes of stdout, "
            f"the replay {len(run.stdout)}"
            + ("" if len(run.stdout) != expected["stdout_bytes"] else " that are not the same")
        )
    left = world.unanswered()
    if left:
        return "; ".join(left)
    return None


def _failure(outcome: dict[str, Any]) -> str:
    kind = str(outcome["kind"])
    text = {"trap": "a trap", "exit": "a non-zero exit", "timeout": "a timeout"}.get(kind, kind)
    if outcome.get("exit_code") not in (None, 0):
        text += f" (status {outcome['exit_code']})"
    if outcome.get("location"):
        text += f" at {outcome['location']}"
    if kind == "trap" and outcome.get("detail"):
        text += f": {_last_line(outcome['detail'])}"
    return text


def _location(function: int, offset: int, name: str) -> str:
    return f"{name or f'function {function}'}+{offset} (function {function})"


def _response(response: contract.Response) -> dict[str, Any]:
    text, is_base64 = contract.encode_body(response.body)
    document: dict[str, Any] = {
        "status": response.status,
        "headers": [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in response.headers
        ],
        "body": text,
    }
    if is_base64:
        document["body_encoding"] = "base64"
    return document


def _limits(limits: dict[str, Any]) -> Limits:
    return Limits(
        timeout=limits["timeout_seconds"],
        memory_limit=limits["memory_limit_bytes"],
        fuel_limit=limits["fuel_limit"],
        stdout_limit=limits["stdout_limit_bytes"],
        stderr_limit=limits["stderr_limit_bytes"],
        max_body=limits["max_body_bytes"],
    )


def _env_value(entry: dict[str, Any], secrets: dict[str, bytes]) -> str:
    if entry.get("redacted"):
        return secrets[entry["name"]].decode()
    return str(_received(decode_value(entry["value"]), secrets))


def _received(value: Any, secrets: dict[str, bytes]) -> Any:
    data = value.value
    if not value.redacted:
        return data
    if isinstance(data, str):
        return restore(data.encode(), value.redacted, secrets).decode()
    return restore(data, value.redacted, secrets)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


def load_module(record: CrashRecord, store_module: Callable[[str], bytes | None]) -> bytes:
    """The recorded module: inside an exported archive, else from the crash directory."""
    data = record.members.get("module.wasm")
    digest = record.document["module"]["sha256"]
    if data is None:
        data = store_module(digest)
    if data is None:
        raise RecordError(
            f"the record's module (sha256 {digest[:12]}) is not kept: not in the record, nor in "
            "its crash directory's modules/; give one with --module"
        )
    return data


def describe_json(verdict: Verdict) -> str:
    return json.dumps(verdict.to_json(), indent=2, ensure_ascii=False)


__all__ = [
    "DIVERGED",
    "FIXED",
    "NO_FAILURE",
    "REPRODUCED",
    "STILL_FAILING",
    "MissingSecrets",
    "ModuleError",
    "Verdict",
    "gather_secrets",
    "load_module",
    "replay",
    "secrets_needed",
]
