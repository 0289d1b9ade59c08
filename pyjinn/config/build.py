"""The directive tree to a frozen :class:`Config`: global options, then sites and their routes
(``pyjinn.config.routes``, in the order ``pyjinn.config.ordering`` gives them).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyjinn.config.access import build_api_key, merge_api_keys
from pyjinn.config.addresses import format_address, parse_admin_address, parse_site_address
from pyjinn.config.ai import AI_DIRECTIVES, build_ai_setting, merge_ai_setting
from pyjinn.config.cors import CORS_DIRECTIVES, CORS_ORIGIN, build_cors
from pyjinn.config.crashes import (
    GLOBAL_CRASH_OPTIONS,
    build_crash_setting,
    resolve_crash_records,
)
from pyjinn.config.diagnostics import (
    Diagnostics,
    describe,
    in_file_order,
    parse_count,
    suggestion,
)
from pyjinn.config.files import PathProblem, resolve
from pyjinn.config.function import FunctionContext
from pyjinn.config.jobs import GLOBAL_OPTIONS as JOB_OPTIONS
from pyjinn.config.jobs import apply_global_option as apply_job_option
from pyjinn.config.meaning import check_meaning_targets
from pyjinn.config.model import (
    DEFAULT_MAX_INSTANCES,
    Address,
    ApiKey,
    Config,
    GlobalOptions,
    Site,
    StorageSettings,
)
from pyjinn.config.observability import build_tracing
from pyjinn.config.ordering import DEFAULT_ORDER, apply_order_option
from pyjinn.config.parser import Directive, Document
from pyjinn.config.rate_limit import RATE_LIMIT_DIRECTIVE, build_rate_limit
from pyjinn.config.routes import RouteBuilder
from pyjinn.config.security import build_security
from pyjinn.config.servers import build_servers
from pyjinn.config.services import SERVICE_OPTIONS, build_service_option
from pyjinn.config.storage import STORAGE_DIRECTIVES, build_storage_setting
from pyjinn.config.triggers import (
    BROKER_DIRECTIVES,
    TRIGGER_DIRECTIVES,
    PendingTrigger,
    apply_broker_setting,
    build_trigger,
    check_triggers,
    named_triggers,
)
from pyjinn.config.websocket import check_connection_room
from pyjinn.errors import ConfigError, Location

GLOBAL_OPTIONS = (
    "admin",
    "data_dir",
    "max_instances",
    "tracing",
    "order",
    "security",
    "api_key",
    "tenant",
    "nats_url",
    "nats_user",
    "nats_password",
    "kv_max_value",
    "db_pool_size",
    "blob_max_size",
    "servers",
    *STORAGE_DIRECTIVES,
    *JOB_OPTIONS,
    *GLOBAL_CRASH_OPTIONS,
    *AI_DIRECTIVES,
    *TRIGGER_DIRECTIVES,
    *BROKER_DIRECTIVES,
    "signing_key",
    "keep_versions",
    RATE_LIMIT_DIRECTIVE,
    *CORS_DIRECTIVES,
)
_REPEATABLE = ("api_key", "order", "allow_host", *TRIGGER_DIRECTIVES, CORS_ORIGIN)


def build(
    document: Document, *, file: str, base_dir: Path, source: Path | None, errors: list[ConfigError]
) -> Config:
    """Check every directive of ``document`` and build the Config; problems go to ``errors``.

    ``base_dir`` is the Caddyfile's directory, against which module files, mounts and
    ``data_dir`` resolve. The returned Config is only meaningful when ``errors`` stayed empty.
    """
    report = Diagnostics(errors)
    ai: dict[str, Any] = {}
    ai_lines: dict[str, Directive] = {}
    options, global_keys, storage_lines, order = _build_options(
        document.options or (), base_dir, report, ai, ai_lines
    )
    if not document.sites:
        report.error_at(
            Location(file, 1), "no site block found; add one, like: :8080 { pyjinn hello.wasm }"
        )
    context = FunctionContext(
        base_dir,
        options.max_instances,
        options.security,
        tuple(global_keys),
        options.tenant,
        data_dir=options.data_dir,
        storage=options.storage,
        storage_lines=storage_lines,
        crash_records=options.crash_records,
        ai=ai,
        ai_lines=ai_lines,
        mqtt=options.mqtt,
        rate_limit=options.rate_limit,
        cors=options.cors,
    )
    builder = RouteBuilder(context, report, order)
    # Triggers of the global options and site blocks name functions: built once all are known.
    pending: list[tuple[PendingTrigger, frozenset[str] | None]] = [
        (trigger, None)
        for option in document.options or ()
        if option.name in TRIGGER_DIRECTIVES
        and (trigger := build_trigger(option, report, named=True)) is not None
    ]
    sites: list[Site] = []
    owners: dict[Address, Location] = {}
    for block in document.sites:
        addresses: list[Address] = []
        for text in block.addresses:
            try:
                address = parse_site_address(text)
            except ValueError as exc:
                report.error_at(block.location, f"invalid site address '{text}': {exc}")
                continue
            if address in addresses:
                report.error_at(block.location, f"address {text} is listed twice in this site")
            elif address in owners:
                report.error_at(
                    block.location,
                    f"address {format_address(address)} is used by two sites "
                    f"({owners[address]} and {block.location})",
                )
            else:
                addresses.append(address)
                owners[address] = block.location
        sites.append(builder.site(tuple(addresses), block.body, block.location))
    sites = builder.name_functions(sites)
    # Site triggers name one of their site's functions, by its final name.
    for site, triggers in zip(sites, builder.site_triggers, strict=True):
        names = frozenset(spec.name for spec in site.functions())
        pending.extend((trigger, names) for trigger in triggers)
    config = Config(options=options, sites=tuple(sites), source=source)
    functions = [spec.name for spec in config.functions()]
    check_meaning_targets(builder.meaning_lines, functions, report)
    config = replace(config, triggers=named_triggers(pending, functions, options.mqtt, report))
    _check_job_targets(config, report)
    check_triggers(config, report)
    check_connection_room(config, report)
    warnings = tuple(str(warning) for warning in in_file_order(report.warnings))
    return replace(config, warnings=warnings)


def _check_job_targets(config: Config, report: Diagnostics) -> None:
    names = {spec.name for spec in config.functions()}
    for spec in config.functions():
        unknown = [n for n in spec.permissions.jobs_enqueue if n != "*" and n not in names]
        if unknown and spec.location is not None:
            report.error_at(
                spec.location,
                f"function {spec.name!r} may enqueue jobs for {unknown[0]!r}, but no function "
                f"has that name (known: {', '.join(sorted(names))})",
            )


def _positive_count(option: Directive, example: str, report: Diagnostics) -> int | None:
    """The one positive whole number of an option like ``max_instances 1000`` (``example``), or
    None with the problem reported."""
    name = option.name
    text = report.single_arg(option, f"{name} expects one positive integer, like: {example}")
    count = parse_count(text) if text is not None else None
    if not count and text is not None:
        report.error(
            option, f"invalid number '{text}' for {name}: expected a positive whole number"
        )
    return count or None


def _build_options(
    directives: tuple[Directive, ...],
    base_dir: Path,
    report: Diagnostics,
    ai: dict[str, Any],
    ai_lines: dict[str, Directive],
) -> tuple[GlobalOptions, list[tuple[ApiKey, Directive]], dict[str, Directive], tuple[str, ...]]:
    """The global options; the ai_* settings (for functions only) go to ``ai``/``ai_lines``."""
    admin: Address | None = GlobalOptions.admin
    data_dir = Path(os.path.abspath(base_dir / "data"))
    max_instances = DEFAULT_MAX_INSTANCES
    security = GlobalOptions().security
    tracing = GlobalOptions().tracing
    servers = GlobalOptions().servers
    jobs = GlobalOptions().jobs
    mqtt = GlobalOptions().mqtt
    signing_key: Path | None = None
    keep_versions = GlobalOptions().keep_versions
    api_keys: list[tuple[ApiKey, Directive]] = []
    services: dict[str, Any] = {}
    storage: dict[str, str] = {}
    storage_lines: dict[str, Directive] = {}
    crash_settings: dict[str, Any] = {}
    seen: dict[str, Directive] = {}
    order: tuple[str, ...] = DEFAULT_ORDER
    rate_limit = None
    cors_lines: list[Directive] = []
    for option in directives:
        name = option.name
        if name not in GLOBAL_OPTIONS:
            report.error(
                option,
                f"unknown global option '{name}'"
                + suggestion(name, GLOBAL_OPTIONS, GLOBAL_OPTIONS),
            )
            continue
        if name in seen and name not in _REPEATABLE:
            report.error(
                option, f"'{name}' is set twice ({describe(seen[name])} and {describe(option)})"
            )
            continue
        seen[name] = option
        if name == "admin":
            text = report.single_arg(option, "admin expects one address or off, like: admin :2019")
            if text == "off":
                admin = None
            elif text is not None:
                try:
                    admin = parse_admin_address(text)
                except ValueError as exc:
                    report.error(option, f"invalid admin address '{text}': {exc}")
        elif name == "data_dir":
            text = report.single_arg(option, "data_dir expects one directory, like: data_dir data")
            if text is not None:
                try:
                    data_dir = resolve(base_dir, text)
                except PathProblem as problem:
                    report.error(option, f"invalid data_dir {text}: {problem}")
        elif name == "signing_key":
            text = report.single_arg(
                option, "signing_key expects one private key file, like: signing_key release.key"
            )
            if text is not None:
                try:
                    signing_key = resolve(base_dir, text)
                except PathProblem as problem:
                    report.error(option, f"invalid signing_key {text}: {problem}")
        elif name == "keep_versions":
            keep_versions = _positive_count(option, "keep_versions 5", report) or keep_versions
        elif name == "security":
            security = build_security(option, base_dir, report) or security
        elif name == "tracing":
            tracing = build_tracing(option, report) or tracing
        elif name == "servers":
            servers = build_servers(option, report) or servers
        elif name in JOB_OPTIONS:
            jobs = apply_job_option(option, jobs, report)
        elif name in TRIGGER_DIRECTIVES:
            continue  # built by build() once the functions they name are known
        elif name in BROKER_DIRECTIVES:
            mqtt = apply_broker_setting(option, mqtt, report)
        elif name == "order":
            order = apply_order_option(option, order, report)
        elif name == "api_key":
            api_key = build_api_key(option, report)
            if api_key is not None:
                api_keys.append((api_key, option))
        elif name in STORAGE_DIRECTIVES:
            value = build_storage_setting(option, report)
            if value is not None:
                storage[name] = value
                storage_lines[name] = option
        elif name in GLOBAL_CRASH_OPTIONS:
            crash_settings.update(build_crash_setting(option, base_dir, report) or {})
        elif name in AI_DIRECTIVES:
            value = build_ai_setting(option, report)
            if value is not None:
                ai[name] = merge_ai_setting(ai, name, value)
                ai_lines.setdefault(name, option)
        elif name == RATE_LIMIT_DIRECTIVE:
            built = build_rate_limit(option, report, allow_off=False)
            rate_limit = built if not isinstance(built, str) else None
        elif name == CORS_ORIGIN:
            cors_lines.append(option)
        elif name in CORS_DIRECTIVES:
            continue  # cors_credentials: checked with the cors_origin lines below
        elif name in SERVICE_OPTIONS:
            setting = build_service_option(option, report)
            if setting is not None:
                services[setting[0]] = setting[1]
        else:
            max_instances = _positive_count(option, "max_instances 1000", report) or max_instances
    cors = build_cors(cors_lines, seen.get("cors_credentials"), report, in_function=False)
    options = GlobalOptions(
        admin=admin,
        data_dir=data_dir,
        max_instances=max_instances,
        tracing=tracing,
        security=security,
        api_keys=merge_api_keys(api_keys, report),
        storage=StorageSettings(**storage),
        servers=servers,
        jobs=jobs,
        crash_records=resolve_crash_records(crash_settings, data_dir),
        mqtt=mqtt,
        signing_key=signing_key,
        keep_versions=keep_versions,
        rate_limit=rate_limit,
        cors=cors if not isinstance(cors, str) else None,
        **services,
    )
    return options, api_keys, storage_lines, order
