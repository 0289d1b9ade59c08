"""The ``pyjinn`` command line. Thin by design: it parses options and calls the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from pyjinn import __version__
from pyjinn.scaffold import LANGUAGES

# Exit codes of `pyjinn run`, documented in the README.
EXIT_OK = 0
EXIT_GUEST_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyjinn")
def main() -> None:
    """Run WebAssembly functions in fresh, locked-down sandboxes, configured by a Caddyfile."""


@main.command()
@click.argument("caddyfile", default="Caddyfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes sharing the listening ports (default: the number of CPUs).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    help="Log as JSON lines, readable lines, or pick by whether stderr is a terminal.",
)
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    help="Log one record per invocation (at info level; on by default).",
)
def up(
    caddyfile: Path, workers: int | None, log_format: str, log_level: str, access_log: bool
) -> None:
    """Serve the functions configured in CADDYFILE (default: ./Caddyfile)."""
    from pyjinn.server.supervisor import serve

    sys.exit(
        serve(
            caddyfile,
            workers=workers,
            log_format=log_format,
            log_level=log_level,
            access_log=access_log,
        )
    )


@main.command()
@click.argument("caddyfile", default="Caddyfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--site", default=None, help="The site whose tools to serve, like :8080.")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
def mcp(caddyfile: Path, site: str | None, log_level: str) -> None:
    """Serve the MCP tools of CADDYFILE on stdin/stdout (for desktop MCP clients).

    Logs go to stderr. When the tools take API keys, set PYJINN_API_KEY.
    """
    from pyjinn.errors import PyjinnError
    from pyjinn.logs import configure
    from pyjinn.mcp.stdio import serve

    configure("console", log_level)
    try:
        serve(caddyfile, site)
    except PyjinnError as error:
        click.echo(f"pyjinn mcp: {error}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
@click.argument("caddyfile", default="Caddyfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--admin",
    default=None,
    help="The admin API's address (default: the Caddyfile's 'admin', else 127.0.0.1:2019).",
)
@click.option(
    "--interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True, help="Seconds."
)
@click.option("--once", is_flag=True, help="Print one table (over one interval) and exit.")
def stats(caddyfile: Path, admin: str | None, interval: float, once: bool) -> None:
    """A live table of every function: requests/s, p50/p99, errors, fuel and memory.

    Reads GET /stats from the admin API of a running pyjinn up; Ctrl-C stops it.
    """
    from pyjinn.observability.live import AdminUnreachable, watch

    try:
        watch(admin or _admin_address(caddyfile), interval, once=once)
    except AdminUnreachable as error:
        raise click.ClickException(f"{error} (is pyjinn up running? pass --admin)") from None


def _admin_address(caddyfile: Path) -> str:
    """Where the Caddyfile puts the admin API; the default when there is none to read."""
    from pyjinn.config import load
    from pyjinn.config.model import GlobalOptions
    from pyjinn.errors import PyjinnError

    default = GlobalOptions.admin
    try:
        address = load(caddyfile).options.admin if caddyfile.exists() else default
    except PyjinnError as error:
        raise click.ClickException(
            f"cannot read {caddyfile} for the admin address: {error}"
        ) from None
    if address is None:
        raise click.ClickException(f"{caddyfile} turns the admin API off ('admin off')")
    host = address.host or "127.0.0.1"
    return f"{'[' + host + ']' if ':' in host else host}:{address.port}"


@main.group()
def jobs() -> None:
    """Jobs of a running pyjinn up: list, show, retry, purge (through its admin API)."""


_CADDYFILE = click.option(
    "--caddyfile",
    default="Caddyfile",
    type=click.Path(dir_okay=False, path_type=Path),
    show_default=True,
    help="Where to find the admin address and data_dir.",
)
_ADMIN = click.option("--admin", default=None, help="The admin API's address (host:port).")
_TENANT = click.option("--tenant", default=None, help="Only this tenant's jobs.")
_FUNCTION = click.option("--function", default=None, help="Only this function's jobs.")


@jobs.command("list")
@_CADDYFILE
@_ADMIN
@_TENANT
@_FUNCTION
@click.option("--status", default=None, help="queued, running, succeeded, failed or dead.")
@click.option("--limit", default=100, show_default=True, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
def jobs_list(
    caddyfile: Path,
    admin: str | None,
    tenant: str | None,
    function: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest jobs first."""
    from pyjinn.jobs.client import print_jobs

    query = {"tenant": tenant, "function": function, "status": status, "limit": str(limit)}
    found = _jobs_call(caddyfile, admin, "GET", "/jobs", query)["jobs"]
    if as_json:
        for record in found:
            click.echo(json.dumps(record))
    else:
        print_jobs(found)


@jobs.command("show")
@click.argument("job_id")
@_CADDYFILE
@_ADMIN
def jobs_show(job_id: str, caddyfile: Path, admin: str | None) -> None:
    """One job's record, as JSON."""
    click.echo(json.dumps(_jobs_call(caddyfile, admin, "GET", f"/jobs/{job_id}", {}), indent=2))


@jobs.command("retry")
@click.argument("job_id")
@_CADDYFILE
@_ADMIN
def jobs_retry(job_id: str, caddyfile: Path, admin: str | None) -> None:
    """Run a dead job again, from its first attempt."""
    record = _jobs_call(caddyfile, admin, "POST", f"/jobs/{job_id}/retry", {}, token=True)
    click.echo(f"Job {record['job_id']} is {record['status']} again.")


@jobs.command("retry-dead")
@_CADDYFILE
@_ADMIN
@_TENANT
@_FUNCTION
def jobs_retry_dead(
    caddyfile: Path, admin: str | None, tenant: str | None, function: str | None
) -> None:
    """Run every dead job again (of one tenant or function)."""
    query = {"tenant": tenant, "function": function}
    retried = _jobs_call(caddyfile, admin, "POST", "/jobs/retry-dead", query, token=True)
    click.echo(f"{len(retried['retried'])} dead job(s) queued again.")


@jobs.command("purge-dead")
@_CADDYFILE
@_ADMIN
@_TENANT
@_FUNCTION
def jobs_purge_dead(
    caddyfile: Path, admin: str | None, tenant: str | None, function: str | None
) -> None:
    """Drop dead jobs for good (of one tenant or function)."""
    query = {"tenant": tenant, "function": function}
    purged = _jobs_call(caddyfile, admin, "POST", "/jobs/purge-dead", query, token=True)
    click.echo(f"{purged['purged']} dead job(s) purged.")


def _jobs_call(
    caddyfile: Path,
    admin: str | None,
    method: str,
    path: str,
    query: dict[str, str | None],
    *,
    token: bool = False,
) -> Any:
    from pyjinn.jobs.client import AdminError, call
    from pyjinn.server.credential import CredentialError, read_admin_token

    secret = None
    if token:
        try:
            secret = read_admin_token(_data_dir(caddyfile))
        except CredentialError as error:
            raise click.ClickException(str(error)) from None
    try:
        return call(admin or _admin_address(caddyfile), method, path, query, secret)
    except AdminError as error:
        raise click.ClickException(str(error)) from None


def _data_dir(caddyfile: Path) -> Path:
    from pyjinn.config import load
    from pyjinn.errors import PyjinnError

    if not caddyfile.exists():
        return Path("data").resolve()
    try:
        return load(caddyfile).options.data_dir
    except PyjinnError as error:
        raise click.ClickException(f"cannot read {caddyfile} for data_dir: {error}") from None


@main.command()
@click.argument("caddyfile", default="Caddyfile", type=click.Path(dir_okay=False, path_type=Path))
def validate(caddyfile: Path) -> None:
    """Check CADDYFILE and every module it names; print each problem as FILE:LINE: message."""
    from pyjinn.validate import check_file

    report = check_file(caddyfile)
    problems = report.problems
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{caddyfile}: valid")


@main.command()
@click.argument("module", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "input_file",
    type=click.File("rb"),
    default=None,
    help="Request envelope (JSON) to feed on stdin; '-' reads it from stdin. "
    "Default: a GET / request with an empty body.",
)
@click.option(
    "--env", "env", multiple=True, metavar="KEY=VALUE", help="Guest environment variable."
)
@click.option("--arg", "args", multiple=True, metavar="ARG", help="Guest argument (repeatable).")
@click.option(
    "--mount",
    "mounts",
    multiple=True,
    metavar="HOST:GUEST[:rw]",
    help="Preopen a host directory, read-only unless ':rw' is given.",
)
@click.option("--timeout", default="30s", show_default=True, help="Wall-clock limit.")
@click.option("--memory-limit", default="128MiB", show_default=True, help="Linear memory limit.")
@click.option(
    "--fuel-limit", type=click.IntRange(min=1), default=None, help="Instruction fuel limit."
)
@click.option("--raw", is_flag=True, help="Print the guest's stdout as is instead of the response.")
def run(
    module: Path,
    input_file: BinaryIO | None,
    env: tuple[str, ...],
    args: tuple[str, ...],
    mounts: tuple[str, ...],
    timeout: str,
    memory_limit: str,
    fuel_limit: int | None,
    raw: bool,
) -> None:
    """Invoke MODULE once, locally, and print the response as JSON.

    Exit status: 0 the function answered; 1 the guest failed (trap, exit, limit, timeout, bad
    output); 2 bad usage or a module that cannot load; 70 an internal error.
    """
    from pyjinn.localrun import run_once

    payload = input_file.read() if input_file is not None else None
    sys.exit(
        run_once(
            module,
            payload=payload,
            env=env,
            args=args,
            mounts=mounts,
            timeout=timeout,
            memory_limit=memory_limit,
            fuel_limit=fuel_limit,
            raw=raw,
        )
    )


@main.command()
@click.argument("name")
@click.option("--lang", type=click.Choice(LANGUAGES), default="c", show_default=True)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Project directory that holds functions/.",
)
def init(name: str, lang: str, root: Path) -> None:
    """Scaffold functions/NAME with a source file and its build recipe."""
    from pyjinn.errors import PyjinnError
    from pyjinn.scaffold import create_function

    try:
        created = create_function(root, name, lang)
    except PyjinnError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {created}. Build it with: pyjinn build {root}")


@main.command()
@click.argument("root", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--force", is_flag=True, help="Rebuild even when the module is newer than its sources."
)
def build(root: Path, force: bool) -> None:
    """Compile every ROOT/functions/*/ into ROOT/functions/NAME.wasm (C and Zig through zig,
    Rust through cargo, Go through go build, AssemblyScript through asc; NAME.pyz for Python)."""
    from pyjinn.errors import PyjinnError
    from pyjinn.toolchain import TerminalProgress, build_all

    # On a terminal, a spinner line shows what a slow compile (Go's first build) is doing.
    progress = TerminalProgress() if sys.stdout.isatty() else None
    try:
        results = build_all(root, force=force, echo=click.echo, progress=progress)
    except PyjinnError as error:
        raise click.ClickException(str(error)) from error
    failed = [result for result in results if not result.ok]
    if failed:
        sys.exit(1)


@main.command()
@click.argument("name")
def keygen(name: str) -> None:
    """Create an Ed25519 key pair for signing modules: NAME.key (private, mode 0600) and NAME.pub.

    Never overwrites a file. Exit status: 0 created; 1 a file exists or cannot be written.
    """
    from pyjinn.errors import SigningError
    from pyjinn.signing import generate_key_files

    try:
        files = generate_key_files(Path(name))
    except SigningError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Wrote {files.private_file} (private: keep it secret) and {files.public_file}.")
    click.echo(f"public key: {files.public_key.hex}")
    click.echo(f"key id:     {files.public_key.key_id}")


@main.command()
@click.argument("module", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file: NAME.key from pyjinn keygen, or a Gojinn .priv file.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the signed module here instead of replacing MODULE.",
)
def sign(module: Path, key_file: Path, output: Path | None) -> None:
    """Sign MODULE (in place, atomically, unless -o is given); other keys' signatures stay.

    Exit status: 0 signed; 1 MODULE cannot be signed (not a well-formed WebAssembly module);
    2 bad usage, such as a key file that cannot be read.
    """
    from pyjinn.errors import SigningError
    from pyjinn.signing import read_signing_key, sign_file

    try:
        key = read_signing_key(key_file)
    except SigningError as error:
        raise click.BadParameter(str(error), param_hint="'--key'") from error
    try:
        signed = sign_file(module, key, output)
    except SigningError as error:
        raise click.ClickException(str(error)) from error
    if signed.removed_gojinn_trailer:
        click.echo(f"Removed the Gojinn signature trailer of {module}.")
    replaced = (
        " (replacing its earlier signature by this key)" if signed.replaced_own_signature else ""
    )
    click.echo(f"Signed {signed.output} with key id {signed.key_id}{replaced}.")


@main.command()
@click.argument("module", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trusted-key",
    "trusted_keys",
    multiple=True,
    required=True,
    metavar="KEY",
    help="A trusted public key: 64 hex digits, base64, or a .pub file (repeatable).",
)
def verify(module: Path, trusted_keys: tuple[str, ...]) -> None:
    """Check that a trusted key signed MODULE (pyjinn or Gojinn signature format).

    Exit status: 0 a trusted signature verifies (its key id is printed); 1 none does (the
    reason is printed); 2 bad usage, such as a key that cannot be read.
    """
    from pyjinn.errors import SigningError
    from pyjinn.signing import load_public_key, verify_file

    try:
        keys = tuple(load_public_key(text) for text in trusted_keys)
    except SigningError as error:
        raise click.BadParameter(str(error), param_hint="'--trusted-key'") from error
    try:
        verdict = verify_file(module, keys)
    except SigningError as error:
        raise click.UsageError(str(error)) from error
    if verdict.problem is not None:
        click.echo(f"{module}: not trusted: {verdict.problem}", err=True)
        sys.exit(1)
    form = " (Gojinn format)" if verdict.format == "gojinn" else ""
    click.echo(f"{module}: signed by trusted key id {', '.join(verdict.trusted_by)}{form}")


@main.command()
@click.option("--quick", is_flag=True, help="A tiny configuration: seconds a part, 100 functions.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the results (default: bench/results in the source checkout).",
)
def bench(quick: bool, output: Path | None) -> None:
    """Run the benchmark suite (python -m bench) of a source checkout; see bench/README.md.

    Exit status: 0 every part ran; 1 a part failed (the others' results are still written).
    """
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "suite.py").exists():
        raise click.ClickException(
            "the benchmark suite lives in pyjinn's source checkout (bench/); run it from there"
        )
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    from bench.suite import RESULTS, run

    outcome = run(output or RESULTS, quick=quick)
    sys.exit(1 if outcome.failed else 0)


_DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The server's data_dir: records are in DATA_DIR/crashes (default: ./data).",
)
_CRASH_PATH_OPTION = click.option(
    "--crash-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The crash directory itself, when crash_path put it elsewhere.",
)


@main.command()
@click.argument("record")
@_DATA_DIR_OPTION
@_CRASH_PATH_OPTION
@click.option(
    "--module",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Replay a rebuilt module instead of the recorded one: is the failure fixed?",
)
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="NAME=VALUE",
    help="A secret the record left out (default: taken from the environment).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--trace", is_flag=True, help="Print each host call and its recorded result.")
@click.option(
    "--gdb",
    "debugger",
    flag_value="gdb",
    default=None,
    help="Run the replay under gdb, the guest compiled with its DWARF (set breakpoints on its "
    "source lines).",
)
@click.option("--lldb", "debugger", flag_value="lldb", help="The same under lldb.")
@click.option("--debug-info", is_flag=True, hidden=True)
def replay(
    record: str,
    data_dir: Path | None,
    crash_path: Path | None,
    module: Path | None,
    env: tuple[str, ...],
    as_json: bool,
    trace: bool,
    debugger: str | None,
    debug_info: bool,
) -> None:
    """Replay RECORD (a record file, an exported archive, a Gojinn crash dump, or a record id)
    offline: the recorded module, stdin, environment, host call results, clock and random
    values; no live backend.

    Verdicts: reproduced, diverged (where), no-failure; with --module: fixed, still-failing,
    diverged. Exit status: 0 reproduced or fixed; 1 anything else; 2 bad usage (a record that
    cannot be found or read, a missing secret).
    """
    from pyjinn import logs
    from pyjinn.debug.commands import crash_directory, debug_replay, run_replay

    if debugger is not None:
        arguments = [record]
        for option, value in (("--data-dir", data_dir), ("--crash-path", crash_path),
                              ("--module", module)):  # fmt: skip
            if value is not None:
                arguments += [option, str(value)]
        for item in env:
            arguments += ["--env", item]
        arguments += ["--json"] * as_json + ["--trace"] * trace
        sys.exit(debug_replay(debugger, arguments))
    logs.configure("auto", "warning")
    sys.exit(
        run_replay(
            record,
            directory=crash_directory(data_dir, crash_path),
            module=module,
            env=env,
            as_json=as_json,
            trace=trace,
            debug_info=debug_info,
        )
    )


@main.group()
def crashes() -> None:
    """Crash records: list them, show one, export one (see docs/debugging.md)."""


@crashes.command("list")
@_DATA_DIR_OPTION
@_CRASH_PATH_OPTION
@click.option("--limit", type=click.IntRange(min=1), default=None, help="The newest N only.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def crashes_list(
    data_dir: Path | None, crash_path: Path | None, limit: int | None, as_json: bool
) -> None:
    """List crash records, newest first: time, function, tenant, outcome, where it failed."""
    from pyjinn.debug.commands import crash_directory, list_records

    sys.exit(list_records(crash_directory(data_dir, crash_path), as_json=as_json, limit=limit))


@crashes.command("show")
@click.argument("record")
@_DATA_DIR_OPTION
@_CRASH_PATH_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the whole record document.")
def crashes_show(
    record: str, data_dir: Path | None, crash_path: Path | None, as_json: bool
) -> None:
    """Show RECORD (an id, or a prefix of one, or a file): outcome, backtrace with source lines
    where the module has DWARF, and the host call timeline."""
    from pyjinn.debug.commands import crash_directory, show_record

    sys.exit(show_record(record, crash_directory(data_dir, crash_path), as_json=as_json))


@crashes.command("export")
@click.argument("record")
@_DATA_DIR_OPTION
@_CRASH_PATH_OPTION
@click.option(
    "--coredump",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the standard wasm coredump here.",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a self-contained record (with its module) here, to replay on another machine.",
)
def crashes_export(
    record: str,
    data_dir: Path | None,
    crash_path: Path | None,
    coredump: Path | None,
    archive: Path | None,
) -> None:
    """Export RECORD's coredump, or the record with its module as one file."""
    from pyjinn.debug.commands import crash_directory, export_record

    sys.exit(
        export_record(
            record, crash_directory(data_dir, crash_path), coredump=coredump, archive=archive
        )
    )
