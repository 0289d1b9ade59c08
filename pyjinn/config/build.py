"""The directive tree to a frozen :class:`Config`: global options, sites and their routes.

Routes in one block are ordered by matcher specificity (exact paths before prefixes, longer
prefixes before shorter ones, catch-alls last, file order for ties), as Caddy orders ``handle``
blocks, so the first route that matches a request is the one that answers it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyjinn.config.access import build_api_key, merge_api_keys
from pyjinn.config.addresses import format_address, parse_admin_address, parse_site_address
from pyjinn.config.diagnostics import Diagnostics, describe, parse_count, suggestion
from pyjinn.config.files import PathProblem, resolve
from pyjinn.config.function import MODULE_FILE_DIRECTIVES, FunctionContext, build_function
from pyjinn.config.jobs import GLOBAL_OPTIONS as JOB_OPTIONS
from pyjinn.config.jobs import apply_global_option as apply_job_option
from pyjinn.config.model import (
    DEFAULT_MAX_INSTANCES,
    Address,
    ApiKey,
    Config,
    GlobalOptions,
    PathMatcher,
    Respond,
    Route,
    Site,
    StorageSettings,
)
from pyjinn.config.observability import build_tracing
from pyjinn.config.parser import Directive, Document
from pyjinn.config.security import build_security
from pyjinn.config.servers import build_servers
from pyjinn.config.services import SERVICE_OPTIONS, build_service_option
from pyjinn.config.storage import STORAGE_DIRECTIVES, build_storage_setting
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
    "signing_key",
    "keep_versions",
)
_REPEATABLE = ("api_key",)
BLOCK_DIRECTIVES = ("handle", "handle_path", "route")
FUNCTION_DIRECTIVES = ("pyjinn", "gojinn")
SITE_DIRECTIVES = (*BLOCK_DIRECTIVES, *FUNCTION_DIRECTIVES, "respond")
NAMED_MATCHERS = "named matchers are not supported; use a path matcher like /api/*"


def build(
    document: Document, *, file: str, base_dir: Path, source: Path | None, errors: list[ConfigError]
) -> Config:
    """Check every directive of ``document`` and build the Config; problems go to ``errors``.

    ``base_dir`` is the Caddyfile's directory, against which module files, mounts and
    ``data_dir`` resolve. The returned Config is only meaningful when ``errors`` stayed empty.
    """
    report = Diagnostics(errors)
    options, global_keys, storage_lines = _build_options(document.options or (), base_dir, report)
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
    )
    builder = _RouteBuilder(context, report)
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
        routes = builder.routes(block.body, "site block")
        sites.append(Site(tuple(addresses), routes, block.location))
    config = Config(options=options, sites=tuple(sites), source=source)
    _check_job_targets(config, report)
    return config


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


def parse_matcher(text: str) -> PathMatcher | None:
    """``/exact``, ``/prefix/*`` or ``/prefix*`` to a PathMatcher; ``*`` (everything) to None."""
    if text == "*":
        return None
    if text.startswith("@"):
        raise ValueError(NAMED_MATCHERS)
    if not text.startswith("/") or "*" in text[:-1]:
        raise ValueError(
            f"unsupported path matcher '{text}': use /exact, /prefix/* or /prefix* "
            "('*' only at the end)"
        )
    return PathMatcher(text)


def _build_options(
    directives: tuple[Directive, ...], base_dir: Path, report: Diagnostics
) -> tuple[GlobalOptions, list[tuple[ApiKey, Directive]], dict[str, Directive]]:
    admin: Address | None = GlobalOptions.admin
    data_dir = Path(os.path.abspath(base_dir / "data"))
    max_instances = DEFAULT_MAX_INSTANCES
    security = GlobalOptions().security
    tracing = GlobalOptions().tracing
    servers = GlobalOptions().servers
    jobs = GlobalOptions().jobs
    signing_key: Path | None = None
    keep_versions = GlobalOptions().keep_versions
    api_keys: list[tuple[ApiKey, Directive]] = []
    services: dict[str, Any] = {}
    storage: dict[str, str] = {}
    storage_lines: dict[str, Directive] = {}
    seen: dict[str, Directive] = {}
    for option in directives:
        name = option.name
        if name == "order":
            continue  # Caddy needs `order gojinn ...`; pyjinn orders routes by specificity.
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
            text = report.single_arg(
                option, "keep_versions expects one positive integer, like: keep_versions 5"
            )
            kept = parse_count(text) if text is not None else None
            if kept:
                keep_versions = kept
            elif text is not None:
                report.error(
                    option,
                    f"invalid number '{text}' for keep_versions: expected a positive whole number",
                )
        elif name == "security":
            security = build_security(option, base_dir, report) or security
        elif name == "tracing":
            tracing = build_tracing(option, report) or tracing
        elif name == "servers":
            servers = build_servers(option, report) or servers
        elif name in JOB_OPTIONS:
            jobs = apply_job_option(option, jobs, report)
        elif name == "api_key":
            api_key = build_api_key(option, report)
            if api_key is not None:
                api_keys.append((api_key, option))
        elif name in STORAGE_DIRECTIVES:
            value = build_storage_setting(option, report)
            if value is not None:
                storage[name] = value
                storage_lines[name] = option
        elif name in SERVICE_OPTIONS:
            setting = build_service_option(option, report)
            if setting is not None:
                services[setting[0]] = setting[1]
        else:
            text = report.single_arg(
                option, "max_instances expects one positive integer, like: max_instances 1000"
            )
            count = parse_count(text) if text is not None else None
            if count:
                max_instances = count
            elif text is not None:
                report.error(
                    option,
                    f"invalid number '{text}' for max_instances: expected a positive whole number",
                )
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
        signing_key=signing_key,
        keep_versions=keep_versions,
        **services,
    )
    return options, api_keys, storage_lines


@dataclass(frozen=True)
class _Entry:
    route: Route
    directive: Directive


class _RouteBuilder:
    """Builds the routes of site, handle and route blocks; remembers function names config-wide."""

    def __init__(self, context: FunctionContext, report: Diagnostics) -> None:
        self.context = context
        self.report = report
        self.function_names: dict[str, Directive] = {}

    def routes(self, directives: tuple[Directive, ...], where: str) -> tuple[Route, ...]:
        entries = [
            _Entry(route, directive)
            for directive in directives
            if (route := self._route(directive, where)) is not None
        ]
        with_matcher = [entry for entry in entries if entry.route.matcher is not None]
        catch_all = [entry for entry in entries if entry.route.matcher is None]
        # sort() is stable, also with reverse=True: ties keep file order.
        with_matcher.sort(key=lambda entry: _specificity(entry.route), reverse=True)
        ordered = with_matcher + catch_all
        self._check_reachable(ordered)
        return tuple(entry.route for entry in ordered)

    def _route(self, directive: Directive, where: str) -> Route | None:
        if directive.name in BLOCK_DIRECTIVES:
            return self._block_route(directive)
        if directive.name in FUNCTION_DIRECTIVES:
            return self._function_route(directive)
        if directive.name == "respond":
            return self._respond_route(directive)
        if directive.name.startswith("@"):
            self.report.error(directive, NAMED_MATCHERS)
            return None
        self.report.error(
            directive,
            f"unknown directive '{directive.name}' in {where}"
            + suggestion(directive.name, SITE_DIRECTIVES, SITE_DIRECTIVES),
        )
        return None

    def _block_route(self, directive: Directive) -> Route | None:
        name = directive.name
        usage = f"{name} /api/* {{ ... }}"
        if directive.block is None or len(directive.args) > 1:
            self.report.error(
                directive, f"{name} expects an optional path matcher and a block, like: {usage}"
            )
            return None
        text = directive.args[0] if directive.args else None
        valid, matcher = self._matcher(directive, text)
        routes = self.routes(directive.block, f"{name} block")
        if name == "handle_path" and valid and (matcher is None or not matcher.is_prefix):
            got = f", got '{text}'" if text is not None else ""
            self.report.error(directive, f"handle_path needs a prefix matcher like /api/*{got}")
            return None
        if not valid:
            return None
        return Route(
            matcher,
            routes=routes,
            strip_prefix=name == "handle_path",
            location=directive.location,
        )

    def _function_route(self, directive: Directive) -> Route | None:
        args = list(directive.args)
        block_gives_file = any(sub.name in MODULE_FILE_DIRECTIVES for sub in directive.block or ())
        # `pyjinn /abs/fn.wasm` names a file; a leading path is a matcher only when a file
        # follows it, or when the block names the file.
        if args and (
            args[0].startswith("@")
            or ((len(args) > 1 or block_gives_file) and _looks_like_matcher(args[0]))
        ):
            matcher_text: str | None = args.pop(0)
        else:
            matcher_text = None
        if len(args) > 1:
            self.report.error(
                directive,
                f"{directive.name} expects an optional path matcher and one module file, "
                f"like: {directive.name} /api/* hello.wasm",
            )
            return None
        valid, matcher = self._matcher(directive, matcher_text)
        spec = build_function(directive, args[0] if args else None, self.context, self.report)
        if spec is None or not valid:
            return None
        first = self.function_names.setdefault(spec.name, directive)
        if first is not directive:
            # Both places are spelled out in full, imports included, so no suffix is needed.
            self.report.error_at(
                directive.location,
                f"function name '{spec.name}' is used twice ({describe(first)} and "
                f"{describe(directive)}); give one of them a 'name'",
            )
            return None
        return Route(matcher, handler=spec, location=directive.location)

    def _respond_route(self, directive: Directive) -> Route | None:
        args = list(directive.args)
        matcher_text = args.pop(0) if args and _looks_like_matcher(args[0]) else None
        valid, matcher = self._matcher(directive, matcher_text)
        self.report.no_block(directive)
        if len(args) > 2:
            self.report.error(
                directive,
                "respond expects an optional matcher, a body and a status, like: "
                'respond /health "ok" 200',
            )
            return None
        body, status_text = "", None
        if len(args) == 2:
            body, status_text = args
        elif len(args) == 1 and len(args[0]) == 3 and args[0].isdigit():
            status_text = args[0]  # Caddy's rule: a lone three-digit argument is a status
        elif args:
            body = args[0]
        status = parse_count(status_text) if status_text is not None else 200
        if status is None or not 100 <= status <= 599:
            self.report.error(
                directive,
                f"invalid status '{status_text}' for respond: "
                "expected a number from 100 to 599, like 404",
            )
            return None
        if not valid:
            return None
        respond = Respond(status=status, body=body, location=directive.location)
        return Route(matcher, handler=respond, location=directive.location)

    def _matcher(self, directive: Directive, text: str | None) -> tuple[bool, PathMatcher | None]:
        """(valid, matcher): None means "every request", so validity travels separately."""
        if text is None:
            return True, None
        try:
            return True, parse_matcher(text)
        except ValueError as exc:
            self.report.error(directive, str(exc))
            return False, None

    def _check_reachable(self, ordered: list[_Entry]) -> None:
        """Report routes that an earlier handler with the same matcher always answers first."""
        answered: dict[PathMatcher | None, Directive] = {}
        for entry in ordered:
            matcher = entry.route.matcher
            first = answered.get(matcher)
            if first is not None:
                what = f"for {matcher.pattern} " if matcher else ""
                paths = "the same paths" if matcher else "every request that reaches it"
                self.report.error(
                    entry.directive,
                    f"this route {what}can never run: {describe(first)} already answers {paths}",
                )
            elif entry.route.handler is not None:
                answered[matcher] = entry.directive


def _looks_like_matcher(text: str) -> bool:
    return text == "*" or text.startswith(("/", "@"))


def _specificity(route: Route) -> tuple[int, int]:
    assert route.matcher is not None  # only called for routes with a matcher
    return route.matcher.specificity()
