"""The ``pyjinn`` command line. Thin by design: it parses options and calls the library."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import click

from pyjinn import __version__

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
@click.option(
    "--listen",
    default=None,
    metavar="ADDR",
    help="Serve every site on ADDR (like :9000 or 127.0.0.1:9000) instead of its own address.",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Serve every site on this port."
)
@click.option(
    "--admin",
    default=None,
    metavar="ADDR|off",
    help="The admin API's address instead of the Caddyfile's (like 127.0.0.1:2020), or off.",
)
@click.option(
    "--build/--no-build",
    default=True,
    help="Build functions whose sources changed (and sign them) before serving (default: on).",
)
def up(
    caddyfile: Path,
    workers: int | None,
    log_format: str,
    log_level: str,
    access_log: bool,
    listen: str | None,
    port: int | None,
    admin: str | None,
    build: bool,
) -> None:
    """Serve the functions configured in CADDYFILE (default: ./Caddyfile).

    First builds the functions of CADDYFILE's functions/ whose sources are newer than their
    modules, and signs them when a signing key is configured (signing_key, PYJINN_SIGNING_KEY).
    """
    import gc

    # Start-up allocates only what lives as long as the process (modules, the configuration,
    # compiled functions): collecting it is wasted work. The processes turn the collector back
    # on once started (pyjinn.server.supervisor, pyjinn.server.worker).
    gc.disable()
    from pyjinn.server.supervisor import serve

    sys.exit(
        serve(
            caddyfile,
            workers=workers,
            log_format=log_format,
            log_level=log_level,
            access_log=access_log,
            adjust=_listen_override(listen, port, admin),
            prepare=_prepare_project if build else None,
        )
    )


def _listen_override(listen: str | None, port: int | None, admin: str | None = None) -> Any:
    from pyjinn.config.addresses import parse_admin_address, parse_site_address
    from pyjinn.config.model import Address
    from pyjinn.server.reload import listening_on

    if listen is None and port is None and admin is None:
        return None
    if listen is not None and port is not None:
        raise click.UsageError("give --listen or --port, not both")
    admin_address: Address | bool | None = True
    if admin is not None:
        try:
            admin_address = None if admin == "off" else parse_admin_address(admin)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--admin'") from None
    if listen is None:
        return listening_on(None, port, admin_address)
    try:
        address = parse_site_address(listen if ":" in listen else f":{listen}")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="'--listen'") from None
    return listening_on(address.host, address.port, admin_address)


def _prepare_project(caddyfile: Path) -> bool:
    """Build what changed in the Caddyfile's project and sign it; False when a build failed."""
    from pyjinn.config import load
    from pyjinn.errors import PyjinnError
    from pyjinn.toolchain.progress import progress_for
    from pyjinn.toolchain.project import build_project, sign_modules

    results = build_project(
        caddyfile.absolute().parent, echo=_echo_err, progress=progress_for(sys.stderr)
    )
    if not all(result.ok for result in results):
        click.secho("A function failed to build; not serving.", fg="red", err=True)
        return False
    try:
        config = load(caddyfile)
    except (PyjinnError, OSError):
        return True  # serving reports what is wrong with the Caddyfile
    try:
        sign_modules(config, [spec.module_path for spec in config.functions()], _echo_err)
    except PyjinnError as error:
        click.secho(f"Cannot sign the modules: {error}", fg="red", err=True)
        return False
    return True


def _echo_err(line: str) -> None:
    failed = line.startswith("Failed to build") or line.startswith("    ")
    click.secho(line, err=True, fg="red" if failed else None)


@main.command()
@click.argument("caddyfile", default="Caddyfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
@click.option("--listen", default=None, metavar="ADDR", help="Serve every site on ADDR.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Serve on this port.")
@click.option("--admin", default=None, metavar="ADDR|off", help="The admin API's address.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default="auto",
    help="Readable, coloured lines on a terminal (auto), or JSON lines.",
)
def dev(
    caddyfile: Path,
    workers: int,
    listen: str | None,
    port: int | None,
    admin: str | None,
    log_format: str,
) -> None:
    """Serve CADDYFILE, and rebuild and reload whatever changes while you edit.

    Watches the Caddyfile and every function's sources: a function whose sources change is
    rebuilt and served within about a second; a compile error is printed and the last good
    version keeps serving. Ctrl-C stops.
    """
    from pyjinn.devloop import DevLoop, server_command
    from pyjinn.toolchain.progress import progress_for

    if not caddyfile.is_file():
        raise click.ClickException(
            f"no Caddyfile at {caddyfile}; create a project with: pyjinn init NAME"
        )
    _listen_override(listen, port, admin)  # checks the values before anything starts
    arguments = ["--workers", str(workers), "--log-format", log_format]
    arguments += ["--listen", listen] if listen else []
    arguments += ["--port", str(port)] if port else []
    arguments += ["--admin", admin] if admin else []
    loop = DevLoop(
        caddyfile,
        server_command(caddyfile, arguments),
        echo=lambda line: click.secho(line, err=True, fg="cyan"),
        failed=lambda line: click.secho(line, err=True, fg="red"),
        progress=progress_for(sys.stderr),
    )
    sys.exit(loop.run())


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


def _languages() -> list[str]:
    from pyjinn.scaffold import available_languages

    return list(available_languages())


def _templates() -> list[str]:
    from pyjinn.scaffold import TEMPLATES

    return list(TEMPLATES)


class _LazyChoice(click.Choice):  # type: ignore[type-arg]
    """A choice whose values are listed when first needed: listing the languages imports the
    toolchains, which every other command (``pyjinn up`` above all) should not pay for."""

    def __init__(self, values: Callable[[], list[str]]) -> None:
        self._values = values
        self._listed: tuple[str, ...] | None = None
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        if self._listed is None:
            self._listed = tuple(self._values())
        return self._listed


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
    from pyjinn.remote import RemoteError, call
    from pyjinn.server.credential import CredentialError, read_admin_token

    secret = None
    if token:
        try:
            secret = read_admin_token(_data_dir(caddyfile))
        except CredentialError as error:
            raise click.ClickException(str(error)) from None
    try:
        return call(
            admin or _admin_address(caddyfile), method, path, query=query, token=secret, timeout=30
        )
    except RemoteError as error:
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
@click.argument("target", required=False)
@_CADDYFILE
@_ADMIN
@click.option(
    "--function", default=None, help="Deploy a module file as this function (default: its stem)."
)
def deploy(target: str | None, caddyfile: Path, admin: str | None, function: str | None) -> None:
    """Upload a new version of functions to a running server, which switches every worker to
    it without dropping a request.

    TARGET is a function's name in the Caddyfile, its source directory (built first when its
    sources changed), or a module file; none deploys every function of the Caddyfile. The
    module is signed when a signing key is configured. The server checks its signature policy,
    compiles and links it before switching; a refused deploy changes nothing and says why.
    Needs the admin token (PYJINN_ADMIN_TOKEN, or DATA_DIR/admin.token).
    """
    from pyjinn.errors import PyjinnError
    from pyjinn.remote import deploy as upload_module
    from pyjinn.remote import describe_switch, uploads_for
    from pyjinn.toolchain.progress import progress_for

    if not _prepare_project(caddyfile):  # what changed is built before anything is sent
        sys.exit(1)
    config = _load(caddyfile)
    address = admin or _admin_address(caddyfile)
    secret = _token(caddyfile)
    try:
        uploads = uploads_for(
            target,
            config,
            function=function,
            echo=lambda line: click.echo(line, err=True),
            progress=progress_for(sys.stderr),
        )
        for upload in uploads:
            click.echo(f"Deploying {upload.path} as {upload.name} ({len(upload.data)} bytes).")
            click.echo(describe_switch("Deployed", upload_module(address, upload, secret)))
    except PyjinnError as error:
        raise click.ClickException(str(error)) from None


@main.command()
@click.argument("name")
@click.option("--to", "digest", default=None, metavar="DIGEST", help="A kept version (prefix).")
@_CADDYFILE
@_ADMIN
def rollback(name: str, digest: str | None, caddyfile: Path, admin: str | None) -> None:
    """Serve the version of function NAME from before its last deploy (or --to DIGEST, one of
    the versions /status lists), on every worker. Needs the admin token."""
    from pyjinn.errors import PyjinnError
    from pyjinn.remote import describe_switch
    from pyjinn.remote import rollback as roll_back

    address = admin or _admin_address(caddyfile)
    try:
        result = roll_back(address, name, _token(caddyfile), digest)
    except PyjinnError as error:
        raise click.ClickException(str(error)) from None
    click.echo(describe_switch("Rolled back", result))


@main.command()
@_CADDYFILE
@_ADMIN
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def routes(caddyfile: Path, admin: str | None, as_json: bool) -> None:
    """The route table of a running server: site, path, function, module digest, grants."""
    from pyjinn.errors import PyjinnError
    from pyjinn.remote import call, print_routes

    try:
        table = call(admin or _admin_address(caddyfile), "GET", "/routes", timeout=30)["routes"]
    except PyjinnError as error:
        raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(table, indent=2))
    else:
        print_routes(table)


@main.command()
@click.argument("function", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records; Ctrl-C stops.")
@click.option("-n", "--lines", default=50, show_default=True, help="How many past records.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON lines.")
@_CADDYFILE
@_ADMIN
def logs(
    function: str | None,
    follow: bool,
    lines: int,
    as_json: bool,
    caddyfile: Path,
    admin: str | None,
) -> None:
    """Access records and guest logs of FUNCTION (of every function without it), from a
    running server's workers, through its admin API."""
    from pyjinn.errors import PyjinnError
    from pyjinn.remote import format_record, log_records

    try:
        for record in log_records(admin or _admin_address(caddyfile), function, lines, follow):
            click.echo(json.dumps(record) if as_json else format_record(record))
    except PyjinnError as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        pass


def _load(caddyfile: Path) -> Any:
    from pyjinn.config import load
    from pyjinn.errors import PyjinnError

    try:
        return load(caddyfile)
    except FileNotFoundError:
        raise click.ClickException(f"no Caddyfile at {caddyfile}; pass --caddyfile") from None
    except PyjinnError as error:
        raise click.ClickException(f"cannot read {caddyfile}:\n{error}") from None


def _token(caddyfile: Path) -> str:
    from pyjinn.server.credential import CredentialError, read_admin_token

    try:
        return read_admin_token(_data_dir(caddyfile))
    except CredentialError as error:
        raise click.ClickException(str(error)) from None


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
@click.argument(
    "module", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "-X", "--method", default=None, help="Request method (default: GET, POST with --data)."
)
@click.option(
    "--path", "target", default="/", show_default=True, help="Request path and query: '/x?a=1'."
)
@click.option(
    "-H", "--header", "headers", multiple=True, metavar="NAME:VALUE", help="Request header."
)
@click.option(
    "-d", "--data", default=None, metavar="TEXT|@FILE", help="Request body; @FILE reads a file."
)
@click.option(
    "--input",
    "input_file",
    type=click.File("rb"),
    default=None,
    help="The whole request envelope (JSON) instead; '-' reads it from stdin.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Run as a function of this Caddyfile: its limits, env, mounts, grants and storage.",
)
@click.option("--function", default=None, help="Which function of --config (by name).")
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
@click.option("--timeout", default=None, help="Wall-clock limit (default: 30s).")
@click.option("--memory-limit", default=None, help="Linear memory limit (default: 128MiB).")
@click.option(
    "--fuel-limit", type=click.IntRange(min=1), default=None, help="Instruction fuel limit."
)
@click.option("--raw", is_flag=True, help="Print the guest's stdout as is instead of the response.")
def run(
    module: Path | None,
    method: str | None,
    target: str,
    headers: tuple[str, ...],
    data: str | None,
    input_file: BinaryIO | None,
    config_path: Path | None,
    function: str | None,
    env: tuple[str, ...],
    args: tuple[str, ...],
    mounts: tuple[str, ...],
    timeout: str | None,
    memory_limit: str | None,
    fuel_limit: int | None,
    raw: bool,
) -> None:
    """Invoke MODULE once, locally, and print the response as JSON.

    With --config CADDYFILE --function NAME, MODULE may be left out (the function's own module
    runs). Exit status: 0 the function answered; 10 trap, 11 non-zero exit, 12 timeout,
    13 memory limit, 14 fuel exhausted, 15 output limit, 16 invalid output; 2 bad usage or a
    module that cannot load; 70 an internal error.
    """
    from pyjinn.localrun import RequestFlags, run_once

    payload = input_file.read() if input_file is not None else None
    flags_given = method is not None or target != "/" or headers or data is not None
    request = RequestFlags(method, target, headers, data) if flags_given else None
    sys.exit(
        run_once(
            module,
            payload=payload,
            request=request,
            env=env,
            args=args,
            mounts=mounts,
            timeout=timeout,
            memory_limit=memory_limit,
            fuel_limit=fuel_limit,
            raw=raw,
            config_path=config_path,
            function=function,
        )
    )


@main.command()
@click.argument("name")
@click.option(
    "--lang",
    type=_LazyChoice(_languages),
    default="c",
    show_default=True,
    help="The function's language.",
)
@click.option(
    "--template",
    type=_LazyChoice(_templates),
    default="http",
    show_default=True,
    help="http: answers requests; job: every request runs as a durable job (202); actor: "
    "holds a WebSocket connection (an echo actor; C or Zig); tool: also an MCP tool at the "
    "site's /mcp.",
)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory (created if missing).",
)
def init(name: str, lang: str, template: str, root: Path) -> None:
    """Create a function NAME in a project that runs at once with pyjinn dev or pyjinn up.

    Writes functions/NAME/ (source using the SDK, and its build recipe), copies the SDK into
    sdk/, adds the route /NAME to the Caddyfile (a new one when there is none) and build
    output to .gitignore.
    """
    from pyjinn.errors import PyjinnError
    from pyjinn.scaffold import create_project

    try:
        created = create_project(root, name, lang, template)
    except PyjinnError as error:
        raise click.ClickException(str(error)) from error
    for path in created.files:
        click.echo(f"Created {path}")
    if created.caddyfile_created:
        click.echo(f"Created {created.caddyfile} with the route {created.route}")
    elif created.route is not None:
        click.echo(f"Added the route {created.route} to {created.caddyfile}")
    for note in created.notes:
        click.echo(note)
    where = "" if root == Path(".") else f"cd {root} && "
    then = (
        f"connect a WebSocket client to ws://localhost:8080/{name}"
        if template == "actor"
        else f"curl localhost:8080/{name}"
    )
    click.echo(f"Run it: {where}pyjinn dev    then: {then}")


@main.command()
@click.argument("targets", nargs=-1)
@click.option(
    "--dir",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The project directory whose functions/ NAMEs are looked up in.",
)
@click.option(
    "--force", is_flag=True, help="Rebuild even when the module is newer than its sources."
)
@click.option(
    "--debug",
    is_flag=True,
    help="Keep function names and DWARF debug information, so traps name functions and lines.",
)
def build(targets: tuple[str, ...], root: Path, force: bool, debug: bool) -> None:
    """Compile functions into functions/NAME.wasm.

    Each TARGET is a function's NAME (in --dir's functions/), a function's directory, or a
    project directory (every function in its functions/); none means every function of
    --dir. Exit status: 0 built or up to date; 1 a build failed or a target is unknown.
    """
    from pyjinn.errors import PyjinnError
    from pyjinn.toolchain import build_all, build_function, function_directory
    from pyjinn.toolchain.progress import progress_for
    from pyjinn.toolchain.recipe import is_function_directory

    progress = progress_for(sys.stderr)
    options: dict[str, Any] = {"force": force, "echo": click.echo, "debug": debug}
    results = []
    try:
        for target in targets or (str(root),):
            path = Path(target)
            if path.is_dir() and is_function_directory(path):
                results.append(build_function(path, progress=progress, **options))
            elif path.is_dir():  # a project: its functions/ (or why it has none)
                results.extend(build_all(path, progress=progress, **options))
            else:
                directory = function_directory(root, target)
                results.append(build_function(directory, progress=progress, **options))
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
