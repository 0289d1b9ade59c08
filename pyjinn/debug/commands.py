"""``pyjinn replay`` and ``pyjinn crashes list|show|export``: what the commands print.

The CLI only parses options and calls these; each returns the command's exit status.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from pyjinn.debug import replay as replaying
from pyjinn.debug.gojinn import is_gojinn_dump, read_gojinn_dump
from pyjinn.debug.record import CrashRecord, RecordError
from pyjinn.debug.sourcemap import SourceMap
from pyjinn.debug.store import CrashStore
from pyjinn.debug.world import recorded_calls
from pyjinn.engine.modules import read_module_bytes
from pyjinn.errors import ModuleError

EXIT_OK, EXIT_NOT_REPRODUCED, EXIT_USAGE = 0, 1, 2
DEFAULT_DATA_DIR = Path("data")


def crash_directory(data_dir: Path | None, crash_path: Path | None) -> Path:
    """Where records are: ``--crash-path``, else ``--data-dir``/crashes, else ./data/crashes."""
    if crash_path is not None:
        return crash_path
    return (data_dir or DEFAULT_DATA_DIR) / "crashes"


def open_record(text: str, directory: Path) -> tuple[CrashRecord, CrashStore | None, bool]:
    """The record ``text`` names (a record or archive file, a Gojinn dump, or an id in
    ``directory``), the store it is in (if any), and whether it is a Gojinn dump."""
    path = Path(text)
    if path.is_file():
        data = path.read_bytes()
        if is_gojinn_dump(data):
            record, _ = read_gojinn_dump(path)
            return record, None, True
        record = CrashRecord.from_bytes(data, path)
        beside = path.parent
        store = CrashStore(beside, create=False) if (beside / "modules").is_dir() else None
        return record, store, False
    if not directory.is_dir():
        raise RecordError(
            f"{text!r} is not a file, and there is no crash directory {directory} to find it in "
            "(give --data-dir or --crash-path)"
        )
    store = CrashStore(directory, create=False)
    return store.load(text), store, False


def run_replay(
    text: str,
    *,
    directory: Path,
    module: Path | None,
    env: Sequence[str],
    as_json: bool,
    trace: bool,
    debug_info: bool = False,
) -> int:
    try:
        given = dict(_pair(item) for item in env)
        record, store, degraded = open_record(text, directory)
        if degraded:
            record, module_bytes = read_gojinn_dump(Path(text), module)
        elif module is not None:
            module_bytes = read_module_bytes(module)
        else:
            module_bytes = replaying.load_module(
                record, store.module if store is not None else lambda digest: None
            )
        secrets = replaying.gather_secrets(record, given)
    except (RecordError, ModuleError, click.BadParameter) as error:
        click.echo(f"pyjinn replay: {error}", err=True)
        return EXIT_USAGE

    def show(line: str) -> None:
        click.echo(f"  {line}", err=as_json)

    if not as_json:
        built = (
            f"the rebuilt module {module}"
            if module is not None and not degraded
            else "the recorded module"
        )
        click.echo(f"Replaying {record.id} (function {record.document['function']}) with {built}.")
        if trace:
            click.echo("Host calls, as the guest makes them:")
    try:
        verdict = replaying.replay(
            record,
            module_bytes,
            rebuilt=module is not None and not degraded,
            secrets=secrets,
            trace=show if trace else None,
            degraded=degraded,
            cache_dir=None,
            debug_info=debug_info,
        )
    except ModuleError as error:
        click.echo(f"pyjinn replay: {error}", err=True)
        return EXIT_USAGE
    except (RecordError, KeyError, ValueError) as error:
        click.echo(f"pyjinn replay: the record cannot be replayed: {error}", err=True)
        return EXIT_USAGE
    if as_json:
        click.echo(replaying.describe_json(verdict))
    else:
        _print_verdict(verdict, module_bytes, rebuilt=module is not None and not degraded)
    return EXIT_OK if verdict.succeeded else EXIT_NOT_REPRODUCED


def _print_verdict(verdict: replaying.Verdict, module: bytes, *, rebuilt: bool) -> None:
    click.echo(f"{verdict.verdict}: {verdict.summary}")
    sources = SourceMap(module)
    for label, outcome in (("recorded", verdict.recorded), ("replayed", verdict.replayed)):
        where = outcome.get("location")
        if not where:
            continue
        # Source lines come from the module that ran: the recorded one, unless rebuilt.
        offset = outcome.get("module_offset")
        line = (
            sources.lookup(offset)
            if offset is not None and (label == "replayed" or not rebuilt)
            else None
        )
        click.echo(f"  {label}: {outcome['kind']} at {where}" + (f", {line}" if line else ""))
    if verdict.response is not None:
        response = verdict.response
        click.echo(f"  response: {response['status']} {response['body'][:500]}")
    for note in verdict.notes:
        click.echo(f"  note: {note}")


def list_records(directory: Path, *, as_json: bool, limit: int | None) -> int:
    if not directory.is_dir():
        click.echo(f"pyjinn crashes: no crash directory {directory}", err=True)
        return EXIT_USAGE
    rows = list(CrashStore(directory, create=False).summaries(limit))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        click.echo(f"No crash records in {directory}.")
        return EXIT_OK
    header = ("TIME (UTC)", "ID", "FUNCTION", "TENANT", "OUTCOME", "LOCATION", "SIZE")
    table = [header] + [
        (
            str(row["created"] or "")[:19].replace("T", " "),
            str(row["id"]),
            str(row["function"]),
            str(row["tenant"] or "-"),
            f"{row['outcome']} {row['status']}"
            + (" (requested)" if row["kind"] != "crash" else ""),
            str(row["location"] or "-"),
            _size(row["size"]),
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    return EXIT_OK


def show_record(text: str, directory: Path, *, as_json: bool) -> int:
    try:
        record, store, degraded = open_record(text, directory)
    except RecordError as error:
        click.echo(f"pyjinn crashes show: {error}", err=True)
        return EXIT_USAGE
    if degraded:
        document = record.document
        click.echo(f"Gojinn crash dump {text} ({document['created']})")
        click.echo(f"  module     {document['module']['file']}")
        click.echo(f"  error      {document['outcome']['detail']}")
        click.echo(f"  request    {_request_line(record)}")
        names = ", ".join(entry["name"] for entry in document["sandbox"]["env"])
        click.echo(f"  env        {names or '-'}")
        click.echo(f"Note: {document['notes'][0]}")
        return EXIT_OK
    if as_json:
        click.echo(json.dumps(record.document, indent=2, ensure_ascii=False))
        return EXIT_OK
    document = record.document
    outcome = document["outcome"]
    module = record.members.get("module.wasm") or (
        store.module(document["module"]["sha256"]) if store is not None else None
    )
    sources = SourceMap(module) if module else None
    echo = click.echo
    echo(f"Crash record {record.id} ({_size(record.size)})")
    echo(
        f"  function   {document['function']}, tenant {document['tenant'] or '-'}, "
        f"{document['trigger']} {document['method']} {document['target']}"
    )
    echo(f"  request    {_request_line(record)}")
    echo(f"  when       {document['created']}, trace {document['trace_id']}")
    echo(f"  why        {_why(document['kind'])}")
    sha = document["module"]["sha256"]
    kept = "kept" if module else "not kept"
    echo(f"  module     {document['module']['file']} (sha256 {sha[:12]}, {kept})")
    echo(f"  outcome    {outcome['kind']} -> {outcome['status']}: {_last_line(outcome)}")
    if outcome.get("exit_code") is not None:
        echo(f"  exit code  {outcome['exit_code']}")
    echo(
        f"  resources  fuel {outcome['fuel_consumed']}, memory {_size(outcome['memory_bytes'])}, "
        f"{outcome['duration_ms']:.2f} ms"
    )
    frames = outcome.get("backtrace") or []
    if frames:
        echo("Backtrace (youngest first):")
        for number, frame in enumerate(frames):
            line = sources.lookup(frame["module_offset"]) if sources is not None else None
            name = frame["name"] or f"function {frame['function']}"
            at = f" at {line}" if line else ""
            offset = frame["module_offset"]
            echo(f"  {number}: {name}+{frame['offset']} (wasm offset {offset:#x}){at}")
        if outcome.get("backtrace_frames", 0) > len(frames):
            echo(f"  ... {outcome['backtrace_frames'] - len(frames)} more frames")
    calls = recorded_calls(record)
    echo(f"Host calls ({len(calls)}):")
    for call in calls:
        seconds = document["host_calls"][call.number - 1].get("seconds", 0.0)
        echo(f"  #{call.number} {call.describe()} -> {call.outcome()}  [{seconds * 1000:.3f} ms]")
    polls = document.get("polls", [])
    echo(
        f"Nondeterministic inputs: {document['clocks']['readings']} clock readings, "
        f"{len(document['random']['calls'])} random_get ({sum(document['random']['calls'])} "
        f"bytes), {len(polls)} poll_oneoff"
    )
    env = document["sandbox"]["env"]
    if env:
        echo(
            "Environment: "
            + ", ".join(
                entry["name"] + (" (secret, not recorded)" if entry.get("redacted") else "")
                for entry in env
            )
        )
    for name in ("stdout", "stderr"):
        data = record.member(name)
        if data:
            size = outcome[name]["size"]
            echo(f"{name} ({_size(size)}{', cut' if size > len(data) else ''}):")
            for text in data[:2000].decode("utf-8", "replace").splitlines()[:20]:
                echo(f"  {text}")
    if "core.wasm" in record.members:
        echo(
            f"Coredump: {_size(len(record.members['core.wasm']))} "
            "(pyjinn crashes export --coredump FILE)"
        )
    for note in document.get("notes", ()):
        echo(f"Note: {note}")
    return EXIT_OK


def export_record(
    text: str, directory: Path, *, coredump: Path | None, archive: Path | None
) -> int:
    try:
        record, store, degraded = open_record(text, directory)
    except RecordError as error:
        click.echo(f"pyjinn crashes export: {error}", err=True)
        return EXIT_USAGE
    if degraded or (coredump is None and archive is None):
        click.echo(
            "pyjinn crashes export: give --coredump FILE and/or --archive FILE"
            if not degraded
            else "pyjinn crashes export: a Gojinn dump has nothing to export",
            err=True,
        )
        return EXIT_USAGE
    if coredump is not None:
        core = record.members.get("core.wasm")
        if core is None:
            click.echo(
                f"pyjinn crashes export: record {record.id} has no coredump (no memory image: "
                "see pyjinn crashes show)",
                err=True,
            )
            return EXIT_USAGE
        _write_private(coredump, core)
        click.echo(f"Wrote the coredump of {record.id} to {coredump} ({_size(len(core))}).")
    if archive is not None:
        if "module.wasm" not in record.members:
            module = store.module(record.document["module"]["sha256"]) if store else None
            if module is None:
                click.echo(
                    f"pyjinn crashes export: the module of {record.id} is not kept, so the "
                    "archive would not replay elsewhere",
                    err=True,
                )
                return EXIT_USAGE
            record.members["module.wasm"] = module
        data = record.to_bytes()
        _write_private(archive, data)
        click.echo(
            f"Wrote {record.id} with its module to {archive} ({_size(len(data))}); replay it "
            f"anywhere with: pyjinn replay {archive}"
        )
    return EXIT_OK


def _write_private(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as file:
        file.write(data)
    temporary.chmod(0o600)
    shutil.move(temporary, path)


def _pair(item: str) -> tuple[str, str]:
    name, separator, value = item.partition("=")
    if not separator or not name:
        raise click.BadParameter(f"--env expects NAME=VALUE, got {item!r}")
    return name, value


def _request_line(record: CrashRecord) -> str:
    """The request as the guest read it: method, URI and body size (from its envelope)."""
    stdin = record.member("stdin")
    try:
        envelope = json.loads(stdin)
        method, uri, body = envelope["method"], envelope["uri"], envelope.get("body", "")
    except (ValueError, KeyError, TypeError):
        return f"{len(stdin)} bytes on stdin (not a request envelope)"
    return f"{method} {uri}, body {len(str(body))} bytes (stdin {len(stdin)} bytes)"


def _why(kind: str) -> str:
    return {
        "crash": "the invocation failed",
        "requested": "a request asked for it (debug secret and X-Pyjinn-Record: 1)",
        "sampled": "record_sample picked it",
    }.get(kind, kind)


def _last_line(outcome: dict[str, Any]) -> str:
    detail = outcome.get("detail") or outcome.get("message") or "answered without failing"
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return str(size)


DEBUGGERS = {
    # The debugger's command line around ``--args PROGRAM...``: breakpoints on source lines of
    # the guest resolve once wasmtime has compiled it, so they are left pending until then.
    "gdb": ["gdb", "-q", "-ex", "set breakpoint pending on", "--args"],
    "lldb": ["lldb", "--"],
}


def debug_replay(debugger: str, arguments: Sequence[str]) -> int:
    """Run this replay again under ``debugger`` (which replaces this process), its module
    compiled with debug information; ``arguments`` are the replay's own, without the debugger
    option."""
    program = shutil.which(DEBUGGERS[debugger][0])
    if program is None:
        click.echo(
            f"pyjinn replay: --{debugger} needs {debugger}, which is not installed", err=True
        )
        return EXIT_USAGE
    command = [
        *DEBUGGERS[debugger],
        sys.executable,
        "-m",
        "pyjinn",
        "replay",
        *arguments,
        "--debug-info",
    ]
    click.echo(
        f"Starting {debugger}: set breakpoints in the guest's source (break main.c:25), then "
        "run. A trap stops the program with a signal (SIGILL, or SIGSEGV for memory), in the "
        "guest's frame."
    )
    sys.stdout.flush()
    os.execv(program, [program, *command[1:]])
    return EXIT_USAGE  # not reached
