"""The commands that work on a running server through its admin API: ``pyjinn deploy``,
``rollback``, ``routes`` and ``logs``.

Deploy and rollback change state, so they send the admin token (``PYJINN_ADMIN_TOKEN``, else
``DATA_DIR/admin.token``; see ``pyjinn.server.credential``). What ``pyjinn deploy`` uploads is
a module, found from what it is given: a function's name in the Caddyfile, a function's source
directory, or a module file. Sources are built first when they changed, and the module is
signed when a signing key is configured; the server checks and compiles it before it switches.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from pyjinn.config.model import Config
from pyjinn.engine.modules import read_module_bytes
from pyjinn.errors import PyjinnError
from pyjinn.signing import read_signing_key, sign_module, verify_module
from pyjinn.toolchain.build import build_function
from pyjinn.toolchain.progress import Progress
from pyjinn.toolchain.project import function_sources, signing_key_file
from pyjinn.toolchain.recipe import is_function_directory


class RemoteError(PyjinnError):
    """The admin API could not be reached, or refused the call (its message says why)."""


@dataclass(frozen=True)
class Upload:
    """A module ready to deploy as the function ``name``."""

    name: str
    path: Path
    data: bytes


def uploads_for(
    target: str | None,
    config: Config,
    *,
    function: str | None = None,
    echo: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> list[Upload]:
    """What ``pyjinn deploy TARGET`` uploads: every configured function (no target), the
    function named ``target``, the sources in directory ``target`` (built first when they
    changed; a failed build raises ``RemoteError``), or the module file ``target`` (as
    ``function``, default: its file name without suffix). Modules are signed when a signing
    key is configured."""
    specs = {spec.name: spec for spec in config.functions()}
    if target is None:
        chosen = [(name, spec.module_path) for name, spec in specs.items()]
    elif Path(target).is_dir() and is_function_directory(Path(target)):
        directory = Path(target)
        result = build_function(directory, echo=echo, progress=progress)
        if not result.ok:
            raise RemoteError(f"cannot deploy {directory}: its build failed (nothing was sent)")
        name = function or _configured_name(directory, function_sources(config)) or directory.name
        chosen = [(name, result.output)]
    elif Path(target).is_file():
        path = Path(target)
        chosen = [(function or path.stem, path)]
    elif target in specs:
        chosen = [(target, specs[target].module_path)]
    else:
        known = ", ".join(sorted(specs)) or "none"
        raise RemoteError(
            f"{target} is neither a module file, a function directory, nor a function of "
            f"{config.source} (its functions: {known})"
        )
    return [
        Upload(name, module, _signed(config, read_module_bytes(module), echo))
        for name, module in chosen
    ]


def _configured_name(directory: Path, sources: dict[str, Path]) -> str | None:
    for name, found in sources.items():
        if found.resolve() == directory.resolve():
            return name
    return None


def _signed(config: Config, data: bytes, echo: Callable[[str], None]) -> bytes:
    key_file = signing_key_file(config)
    if key_file is None:
        return data
    key = read_signing_key(key_file)
    if verify_module(data, (key.public_key,)).is_trusted:
        return data
    echo(f"Signing with key id {key.key_id}.")
    return sign_module(data, key)


def call(
    admin: str,
    method: str,
    path: str,
    *,
    query: dict[str, str | None] | None = None,
    data: bytes | None = None,
    token: str | None = None,
    timeout: float = 330.0,
) -> Any:
    """One admin API call; the JSON document it answers (query values that are None are left
    out). Raises ``RemoteError``."""
    kept = {name: value for name, value in (query or {}).items() if value is not None}
    url = f"http://{admin}{path}" + (f"?{urllib.parse.urlencode(kept)}" if kept else "")
    body = data if data is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url, method=method, data=body)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/wasm")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError) as error:
        raise _remote_error(admin, error) from None


def _remote_error(admin: str, error: OSError) -> RemoteError:
    """What went wrong with an admin API call: its answer's status and error message, or why
    the API could not be reached."""
    if isinstance(error, urllib.error.HTTPError):
        try:
            message = json.loads(error.read()).get("error", error.reason)
        except ValueError:
            message = error.reason
        return RemoteError(f"{error.code}: {message}")
    return RemoteError(f"cannot reach the admin API at {admin}: {error} (is pyjinn up running?)")


def deploy(admin: str, upload: Upload, token: str) -> dict[str, Any]:
    path = f"/functions/{urllib.parse.quote(upload.name)}/deploy"
    result: dict[str, Any] = call(admin, "POST", path, data=upload.data, token=token)
    return result


def rollback(admin: str, name: str, token: str, to: str | None) -> dict[str, Any]:
    path = f"/functions/{urllib.parse.quote(name)}/rollback"
    result: dict[str, Any] = call(
        admin, "POST", path, query={"to": to} if to else None, token=token
    )
    return result


def describe_switch(verb: str, result: dict[str, Any]) -> str:
    """One line for a deploy's or rollback's answer."""
    name, digest = result["function"], str(result.get("sha256"))[:12]
    if result.get("unchanged"):
        return f"{name} already serves {digest}; nothing changed."
    previous = str(result.get("previous") or "")[:12]
    check = f", checked in {result['check_seconds']:.2f} s" if "check_seconds" in result else ""
    return (
        f"{verb} {name}: {previous} -> {digest} on {result.get('workers', 0)} worker(s) "
        f"in {result.get('seconds', 0):.2f} s (switch {result.get('switch_seconds', 0):.2f} s"
        f"{check})."
    )


def print_routes(routes: list[dict[str, Any]], console: Console | None = None) -> None:
    """The route table: site, path, what answers, module digest, grants."""
    table = Table("site", "path", "function", "sha256", "grants")
    for route in routes:
        grants = route.get("grants") or {}
        table.add_row(
            ", ".join(route["site"]),
            route["path"],
            route.get("function")
            or (
                f"route_by_meaning {', '.join(route['route_by_meaning'])}"
                if "route_by_meaning" in route
                else f"respond {route.get('respond')}"
            ),
            str(route.get("sha256") or "")[:12],
            "; ".join(f"{grant} {_grant_value(value)}" for grant, value in grants.items()) or "-",
        )
    (console or Console(width=160)).print(table)


def _grant_value(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def log_records(
    admin: str, function: str | None, lines: int, follow: bool
) -> Iterator[dict[str, Any]]:
    """Records of one function's access and guest logs (of all, without ``function``): the
    last ``lines``, then, with ``follow``, new ones as they come until interrupted."""
    query = {"lines": str(lines)}
    if function:
        query["function"] = function
    if follow:
        query["follow"] = "1"
    url = f"http://{admin}/logs?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(url, timeout=None if follow else 30) as answer:
            for line in answer:
                if line.strip():
                    yield json.loads(line)
    except (urllib.error.URLError, OSError) as error:
        raise _remote_error(admin, error) from None


def format_record(record: dict[str, Any]) -> str:
    """A log record as one readable line."""
    stamp = str(record.get("time", ""))[11:23]
    level = str(record.get("level", "")).upper()
    skipped = {"time", "level", "logger", "message"}
    context = " ".join(f"{key}={value}" for key, value in record.items() if key not in skipped)
    return f"{stamp} {level:<7} {record.get('message', '')}  {context}".rstrip()
