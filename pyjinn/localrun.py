"""``pyjinn run``: one local invocation of a module, without a server.

The request is built from ``--method``, ``--path`` (with its query), ``--header`` and ``--data``
exactly as the HTTP trigger builds it, or read whole from ``--input`` (a JSON envelope whose
missing fields are filled in as the server would, and whose unknown fields are refused).
With ``--config CADDYFILE --function NAME`` the module runs as that function: its limits,
environment, mounts and grants, against the configuration's storage (SQLite or libSQL files,
the filesystem object store, and key-value storage on an embedded nats-server started for the
run, or the one a ``pyjinn up`` on the same ``data_dir`` runs, or the NATS server the
configuration names).

The exit status tells how it went: 0 the function answered; a guest failure has its own status
per kind (``GUEST_EXIT_CODES``); 2 bad usage or a module that cannot load; 70 a host error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import click

from pyjinn import contract, logs
from pyjinn.config.model import Config, FunctionSpec, Limits, Mount, Route
from pyjinn.config.units import parse_duration, parse_size
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Run, Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader, cache_dir_for, default_cache_home
from pyjinn.errors import GuestFault, InvocationError, PyjinnError
from pyjinn.observability.guest_logs import emit_stderr

T = TypeVar("T")

EXIT_OK, EXIT_USAGE, EXIT_INTERNAL = 0, 2, 70
# A guest failure's exit status, by kind: scripts can tell a timeout from a trap.
GUEST_EXIT_CODES: dict[str, int] = {
    GuestFault.TRAP.label: 10,
    GuestFault.EXIT.label: 11,
    GuestFault.TIMEOUT.label: 12,
    GuestFault.MEMORY_LIMIT.label: 13,
    GuestFault.FUEL_EXHAUSTED.label: 14,
    GuestFault.OUTPUT_LIMIT.label: 15,
    GuestFault.INVALID_OUTPUT.label: 16,
}
EXIT_GUEST_FAILED = 1  # a guest failure of a kind not in the table
ENVELOPE_FIELDS = (
    "method", "uri", "path", "query", "headers", "body", "body_encoding", "remote_addr",
    "trace_id", "tenant", "job_id", "attempt",
)  # fmt: skip
DEFAULT_TIMEOUT, DEFAULT_MEMORY_LIMIT = "30s", "128MiB"
BACKTRACE_DETAILS = "WASMTIME_BACKTRACE_DETAILS"


class UsageError(PyjinnError):
    """A command-line value that cannot be used."""


@dataclass(frozen=True)
class RequestFlags:
    """The request as the command line describes it."""

    method: str | None = None
    path: str = "/"
    headers: Sequence[str] = ()
    data: str | None = None


def build_request(flags: RequestFlags, trace_id: str, tenant: str = "") -> bytes:
    """The envelope the HTTP trigger would write for this request: ``--data`` makes it a POST
    unless ``--method`` says otherwise; ``@FILE`` reads the body from a file (``@-``: stdin)."""
    body = _body(flags.data)
    method = (flags.method or ("POST" if flags.data is not None else "GET")).upper()
    target = flags.path if flags.path.startswith("/") else "/" + flags.path
    parts = urlsplit(target)
    return contract.encode_request(
        method=method,
        uri=target,
        path=unquote(parts.path) or "/",
        query_string=parts.query.encode(),
        headers=[_header(item) for item in flags.headers],
        body=body,
        remote_addr="",
        trace_id=trace_id,
        tenant=tenant,
    )


def complete_envelope(data: bytes, trace_id: str) -> bytes:
    """An ``--input`` document with what the server always sends filled in: ``path`` and
    ``query`` from ``uri`` (or ``uri`` from ``path``), method GET, no headers, an empty body,
    the trace id. Raises ``UsageError`` for what is not an envelope."""
    try:
        document = json.loads(data)
    except ValueError as error:
        raise UsageError(f"--input is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise UsageError("--input must hold one JSON object (the request envelope)")
    unknown = sorted(set(document) - set(ENVELOPE_FIELDS))
    if unknown:
        raise UsageError(
            f"--input has unknown field(s) {', '.join(unknown)}; "
            f"expected: {', '.join(ENVELOPE_FIELDS)}"
        )
    uri = document.get("uri")
    if uri is None:
        uri = document["uri"] = document.get("path", "/")
    if not isinstance(uri, str):
        raise UsageError(f"--input: uri must be a string, not {uri!r}")
    parts = urlsplit(uri)
    document.setdefault("method", "GET")
    document.setdefault("path", unquote(parts.path) or "/")
    if "query" not in document:  # as the server decodes it (pyjinn.contract)
        document["query"] = parse_qs(parts.query, keep_blank_values=True)
    document.setdefault("headers", {})
    document.setdefault("body", "")
    document.setdefault("remote_addr", "")
    document.setdefault("trace_id", trace_id)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def run_once(
    module_path: Path | None,
    *,
    payload: bytes | None,
    request: RequestFlags | None = None,
    env: Sequence[str] = (),
    args: Sequence[str] = (),
    mounts: Sequence[str] = (),
    timeout: str | None = None,
    memory_limit: str | None = None,
    fuel_limit: int | None = None,
    raw: bool = False,
    config_path: Path | None = None,
    function: str | None = None,
) -> int:
    """Invoke the module once, print the response, and return the exit status."""
    logs.configure("auto", "info")
    trace_id = contract.trace_id_from(None)
    try:
        if config_path is not None or function is not None:
            given = {"--env": env, "--arg": args, "--mount": mounts, "--timeout": timeout,
                     "--memory-limit": memory_limit, "--fuel-limit": fuel_limit}  # fmt: skip
            clashing = [option for option, value in given.items() if value]
            if clashing:
                raise UsageError(
                    f"{', '.join(clashing)} cannot be combined with --config: the function's "
                    "limits, environment and mounts come from the Caddyfile"
                )
            return _run_configured(config_path, function, module_path, payload, request,
                                   trace_id, raw)  # fmt: skip
        if module_path is None:
            raise UsageError("give a MODULE to run, or --config CADDYFILE --function NAME")
        stdin = _stdin(payload, request, trace_id, "")
        limits = Limits(
            timeout=_parsed(parse_duration, timeout or DEFAULT_TIMEOUT, "--timeout"),
            memory_limit=_parsed(
                parse_size, memory_limit or DEFAULT_MEMORY_LIMIT, "--memory-limit"
            ),
            fuel_limit=fuel_limit,
        )
        with source_lines_in_traps():
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
    except PyjinnError as error:  # usage, a module or configuration that cannot load
        click.echo(f"pyjinn run: {error}", err=True)
        return EXIT_USAGE
    engine.start()
    try:
        run = invoke(engine, module, sandbox, stdin)
    finally:
        engine.close()
    if run.stderr:
        emit_stderr(module_path.stem, trace_id, "", run.stderr, run.stderr_truncated)
    return _report(run, raw)


def _run_configured(
    config_path: Path | None,
    name: str | None,
    module_path: Path | None,
    payload: bytes | None,
    request: RequestFlags | None,
    trace_id: str,
    raw: bool,
) -> int:
    from pyjinn.config import load
    from pyjinn.runtime import Runtime
    from pyjinn.services import start_services

    if config_path is None or name is None:
        raise UsageError("--config and --function go together: the Caddyfile and the function")
    config = load(config_path)
    specs = {spec.name: spec for spec in config.functions()}
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none"
        raise UsageError(f"{config_path} has no function {name!r} (it has: {known})")
    if module_path is not None:  # this module, run as that function
        spec = replace(specs[name], module_path=module_path.resolve())
        config = _with_spec(config, spec)
    spec = next(s for s in config.functions() if s.name == name)
    stdin = _stdin(payload, request, trace_id, spec.tenant)
    services, embedded = start_services(config, shared=True)  # a pyjinn up's, if one runs
    with source_lines_in_traps():
        runtime = Runtime(config, services=services)
    try:
        function = runtime.functions[name]
        function.module  # noqa: B018 - a module that cannot load is a usage error, said first
        run = asyncio.run(runtime.call(function, stdin, tenant=spec.tenant, trace_id=trace_id))
    finally:
        runtime.close()
        services.close()
        if embedded is not None:
            embedded.stop()
    return _report(run, raw)


def _with_spec(config: Config, spec: FunctionSpec) -> Config:
    """``config`` with the function of ``spec``'s name replaced by ``spec``."""

    def route(entry: Route) -> Route:
        handler = entry.handler
        if isinstance(handler, FunctionSpec) and handler.name == spec.name:
            handler = spec
        return replace(entry, handler=handler, routes=tuple(route(r) for r in entry.routes))

    sites = tuple(
        replace(site, routes=tuple(route(r) for r in site.routes)) for site in config.sites
    )
    return replace(config, sites=sites)


@contextlib.contextmanager
def source_lines_in_traps() -> Iterator[None]:
    """Engines made inside show source files and lines in trap backtraces, for modules built
    with debug information (``pyjinn build --debug``); wasmtime reads this switch from the
    environment when an engine is made."""
    previous = os.environ.get(BACKTRACE_DETAILS)
    os.environ[BACKTRACE_DETAILS] = previous or "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[BACKTRACE_DETAILS]


def _stdin(
    payload: bytes | None, request: RequestFlags | None, trace_id: str, tenant: str
) -> bytes:
    if payload is not None:
        if request is not None:
            raise UsageError(
                "--input gives the whole request; leave out --method/--path/--header/--data"
            )
        return complete_envelope(payload, trace_id)
    return build_request(request or RequestFlags(), trace_id, tenant)


def _report(run: Run, raw: bool) -> int:
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
    if error.blame.value == "host":
        return EXIT_INTERNAL
    return GUEST_EXIT_CODES.get(error.kind, EXIT_GUEST_FAILED)


def _grouped(headers: list[tuple[bytes, bytes]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(contract.canonical_header_name(name), []).append(value.decode("latin-1"))
    return grouped


def _body(data: str | None) -> bytes:
    if data is None:
        return b""
    if data.startswith("@"):
        name = data[1:]
        if name == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(name).read_bytes()
        except OSError as error:
            raise UsageError(f"--data {data}: cannot read {name}: {error.strerror}") from None
    return data.encode()


def _header(item: str) -> tuple[bytes, bytes]:
    name, separator, value = item.partition(":")
    if not separator or not name.strip() or name != name.strip():
        raise UsageError(f"--header expects NAME:VALUE, like 'Accept: text/plain', got {item!r}")
    return name.encode("latin-1"), value.strip().encode("latin-1")


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
