"""``pyjinn run``: one local invocation of a module, without a server or a Caddyfile."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click

from pyjinn import contract, logs
from pyjinn.config.model import Limits, Mount
from pyjinn.config.units import parse_duration, parse_size
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader, cache_dir_for, default_cache_home
from pyjinn.errors import InvocationError, ModuleError, PyjinnError
from pyjinn.observability.guest_logs import emit_stderr

T = TypeVar("T")

EXIT_OK, EXIT_GUEST_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 70


class UsageError(PyjinnError):
    """A command-line value that cannot be used."""


def default_request(trace_id: str) -> bytes:
    """The envelope of a ``GET /`` request with no headers and an empty body."""
    return contract.encode_request(
        method="GET",
        uri="/",
        path="/",
        query_string=b"",
        headers=[],
        body=b"",
        remote_addr="",
        trace_id=trace_id,
    )


def run_once(
    module_path: Path,
    *,
    payload: bytes | None,
    env: Sequence[str],
    args: Sequence[str],
    mounts: Sequence[str],
    timeout: str,
    memory_limit: str,
    fuel_limit: int | None,
    raw: bool,
) -> int:
    """Invoke ``module_path`` once, print the response, and return the exit status."""
    logs.configure("auto", "info")
    try:
        limits = Limits(
            timeout=_parsed(parse_duration, timeout, "--timeout"),
            memory_limit=_parsed(parse_size, memory_limit, "--memory-limit"),
            fuel_limit=fuel_limit,
        )
        engine = Engine(max_instances=2)
        loader = ModuleLoader(engine, cache_dir_for(default_cache_home()))
        sandbox = Sandbox(
            engine,
            limits,
            argv=(module_path.name, *args),
            env=[_pair(item) for item in env],
            mounts=[_mount(item) for item in mounts],
        )
        module = loader.load(module_path.resolve(), sandbox=sandbox)
    except (UsageError, ModuleError) as error:
        click.echo(f"pyjinn run: {error}", err=True)
        return EXIT_USAGE
    trace_id = contract.trace_id_from(None)
    engine.start()
    try:
        run = invoke(
            engine, module, sandbox, payload if payload is not None else default_request(trace_id)
        )
    finally:
        engine.close()
    if run.stderr:
        emit_stderr(module_path.stem, trace_id, "", run.stderr, run.stderr_truncated)
    if raw:
        sys.stdout.buffer.write(run.stdout)
        return EXIT_OK if run.error is None else _failed(run.error)
    try:
        if run.error is not None:
            raise run.error
        response = contract.decode_response(run.stdout)
    except InvocationError as error:
        return _failed(error)
    document: dict[str, object] = {"status": response.status, "headers": _grouped(response.headers)}
    text, is_base64 = contract.encode_body(response.body)
    document["body"] = text
    if is_base64:
        document["body_encoding"] = "base64"
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    return EXIT_OK


def _failed(error: InvocationError) -> int:
    click.echo(
        json.dumps({"error": error.kind, "blame": error.blame.value, "detail": error.detail})
    )
    return EXIT_INTERNAL if error.blame.value == "host" else EXIT_GUEST_FAILED


def _grouped(headers: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(contract.canonical_header_name(name), []).append(value.decode("latin-1"))
    return grouped


def _parsed(parse: Callable[[str], T], text: str, option: str) -> T:
    try:
        return parse(text)
    except ValueError as error:
        raise UsageError(f"invalid value {text!r} for {option}: {error}") from None


def _pair(item: str) -> tuple[str, str]:
    name, separator, value = item.partition("=")
    if not separator or not name:
        raise UsageError(f"--env expects KEY=VALUE, got {item!r}")
    return name, value


def _mount(item: str) -> Mount:
    parts = item.split(":")
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise UsageError(f"--mount expects HOST:GUEST or HOST:GUEST:rw, got {item!r}")
    host = Path(parts[0]).resolve()
    if not host.is_dir():
        raise UsageError(f"--mount: {parts[0]} is not a directory")
    if not parts[1].startswith("/"):
        raise UsageError(f"--mount: the guest path {parts[1]!r} must be absolute")
    return Mount(host, parts[1], writable=len(parts) == 3 and parts[2] == "rw")
