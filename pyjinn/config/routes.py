"""Site, ``handle``, ``handle_path`` and ``route`` blocks to routes in the order they are tried.

Site, ``handle`` and ``handle_path`` blocks are sorted as Caddy sorts them
(``pyjinn.config.ordering``); ``route`` blocks keep file order. The first route whose matcher
matches answers; a matched block whose routes match nothing answers 404 (Caddy would go on with
the directives after the block; docs/configuration.md says why pyjinn does not). A route that can
never run because an earlier one takes every request it could see is an error.

Functions without a ``name`` are named after their module file; when one module serves several
routes, each is named after its route as well (``tax.api-v1``, ``tax.api-v2``), so the same
module may be used twice without inventing names. They share one compiled module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pyjinn.config.addresses import format_address
from pyjinn.config.diagnostics import Diagnostics, describe, parse_count, suggestion
from pyjinn.config.function import MODULE_FILE_DIRECTIVES, FunctionContext, build_function
from pyjinn.config.headers import build_header_rule
from pyjinn.config.mcp import MCP_DIRECTIVE, build_mcp_path, check_tools
from pyjinn.config.meaning import MEANING_DIRECTIVE, build_meaning_route
from pyjinn.config.model import (
    Address,
    FunctionSpec,
    HeaderRule,
    PathMatcher,
    Respond,
    Route,
    Site,
)
from pyjinn.config.ordering import FUNCTION_ALIASES, in_caddy_order
from pyjinn.config.parser import Directive
from pyjinn.config.placeholders import compile_template
from pyjinn.config.triggers import TRIGGER_DIRECTIVES, PendingTrigger, build_trigger
from pyjinn.errors import Location

BLOCK_DIRECTIVES = ("handle", "handle_path", "route")
FUNCTION_DIRECTIVES = FUNCTION_ALIASES
SITE_DIRECTIVES = (
    *BLOCK_DIRECTIVES, *FUNCTION_DIRECTIVES, "respond", "header", MEANING_DIRECTIVE,
    *TRIGGER_DIRECTIVES,
)  # fmt: skip
NAMED_MATCHERS = "named matchers are not supported; use a path matcher like /api/*"
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


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
    if "%" in text:
        raise ValueError(
            f"unsupported path matcher '{text}': escaped characters (%) in path matchers are "
            "not supported; write the character itself"
        )
    return PathMatcher(text)


def looks_like_matcher(text: str) -> bool:
    """Caddy's rule: an argument is a matcher when it is ``*`` or starts with ``/`` or ``@``."""
    return text == "*" or text.startswith(("/", "@"))


@dataclass(frozen=True)
class _Entry:
    """One directive of a block, on its way to being sorted."""

    name: str
    matcher: PathMatcher | None
    directive: Directive
    route: Route | None = None
    rule: HeaderRule | None = None


@dataclass(frozen=True)
class _FunctionUse:
    """Where a function is configured, for naming it: its own ``name``, if any, the matchers
    around it (outermost first) and its site."""

    spec: FunctionSpec
    directive: Directive
    named: bool
    scope: tuple[str, ...]
    site: str


class RouteBuilder:
    """Builds the routes of every site; names functions once all are known."""

    def __init__(
        self, context: FunctionContext, report: Diagnostics, order: tuple[str, ...]
    ) -> None:
        self.context = context
        self.report = report
        self.order = order
        self.uses: list[_FunctionUse] = []
        self._site = ""
        # Every route_by_meaning, to check the functions it names once all are known.
        self.meaning_lines: list[tuple[Route, Directive]] = []
        # The trigger lines of each site block, in site order (they name one of its functions).
        self.site_triggers: list[list[PendingTrigger]] = []

    def site(
        self, addresses: tuple[Address, ...], body: tuple[Directive, ...], location: Location
    ) -> Site:
        self._site = _slug(format_address(addresses[0])) if addresses else "site"
        self.site_triggers.append([])
        mcp_lines = [directive for directive in body if directive.name == MCP_DIRECTIVE]
        body = tuple(directive for directive in body if directive.name != MCP_DIRECTIVE)
        routes, headers = self.block(body, "site block", (), sort=True)
        site = Site(addresses, routes, location, headers=headers)
        tools = check_tools(site, self.report)
        mcp_path = build_mcp_path(mcp_lines, has_tools=bool(tools), report=self.report)
        return replace(site, mcp_path=mcp_path)

    def block(
        self, directives: tuple[Directive, ...], where: str, scope: tuple[str, ...], *, sort: bool
    ) -> tuple[tuple[Route, ...], tuple[HeaderRule, ...]]:
        """The routes and header rules of one block, in the order they are tried."""
        entries = [entry for d in directives if (entry := self._entry(d, where, scope))]
        if sort:
            entries = in_caddy_order(entries, self.order)
        routes: list[Route] = []
        rules: list[HeaderRule] = []
        for entry in entries:
            if entry.rule is not None:
                rules.append(replace(entry.rule, position=len(routes)))
            elif entry.route is not None:
                routes.append(entry.route)
        self._check_reachable([entry for entry in entries if entry.route is not None])
        return tuple(routes), tuple(rules)

    def _entry(self, directive: Directive, where: str, scope: tuple[str, ...]) -> _Entry | None:
        name = directive.name
        if name in BLOCK_DIRECTIVES:
            return self._block_route(directive, scope)
        if name in FUNCTION_DIRECTIVES:
            return self._function_route(directive, scope)
        if name == "respond":
            return self._respond_route(directive)
        if name == "header":
            return self._header_rule(directive)
        if name == MEANING_DIRECTIVE:
            return self._meaning_route(directive)
        if name in TRIGGER_DIRECTIVES:
            trigger = build_trigger(directive, self.report, named=True)
            if trigger is not None:
                self.site_triggers[-1].append(trigger)
            return None
        if name.startswith("@"):
            self.report.error(directive, NAMED_MATCHERS)
            return None
        self.report.error(
            directive,
            f"unknown directive '{name}' in {where}"
            + suggestion(name, SITE_DIRECTIVES, SITE_DIRECTIVES),
        )
        return None

    def _block_route(self, directive: Directive, scope: tuple[str, ...]) -> _Entry | None:
        name = directive.name
        usage = f"{name} /api/* {{ ... }}"
        if directive.block is None or len(directive.args) > 1:
            self.report.error(
                directive, f"{name} expects an optional path matcher and a block, like: {usage}"
            )
            return None
        text = directive.args[0] if directive.args else None
        valid, matcher = self._matcher(directive, text)
        inner_scope = (*scope, text) if text else scope
        routes, headers = self.block(
            directive.block, f"{name} block", inner_scope, sort=name != "route"
        )
        if name == "handle_path" and valid and matcher is None:
            got = f", got '{text}'" if text is not None else ""
            self.report.error(directive, f"handle_path needs a path matcher like /api/*{got}")
            return None
        if not valid:
            return None
        route = Route(
            matcher,
            routes=routes,
            strip_prefix=name == "handle_path",
            location=directive.location,
            headers=headers,
        )
        return _Entry(name, matcher, directive, route=route)

    def _function_route(self, directive: Directive, scope: tuple[str, ...]) -> _Entry | None:
        args = list(directive.args)
        block_gives_file = any(sub.name in MODULE_FILE_DIRECTIVES for sub in directive.block or ())
        # `pyjinn /abs/fn.wasm` names a file; a leading path is a matcher only when a file
        # follows it, or when the block names the file.
        if args and (
            args[0].startswith("@")
            or ((len(args) > 1 or block_gives_file) and looks_like_matcher(args[0]))
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
        named = any(sub.name == "name" for sub in directive.block or ())
        own_scope = (*scope, matcher_text) if matcher_text else scope
        self.uses.append(_FunctionUse(spec, directive, named, own_scope, self._site))
        route = Route(matcher, handler=spec, location=directive.location)
        return _Entry(directive.name, matcher, directive, route=route)

    def _respond_route(self, directive: Directive) -> _Entry | None:
        args = list(directive.args)
        matcher_text = args.pop(0) if args and looks_like_matcher(args[0]) else None
        valid, matcher = self._matcher(directive, matcher_text)
        self.report.no_block(directive)
        if not args or len(args) > 2:
            self.report.error(
                directive,
                "respond expects an optional matcher, then a body, a status or both, like: "
                'respond /health "ok" 200',
            )
            return None
        body, status_text = "", None
        if len(args) == 2:
            body, status_text = args
        elif len(args[0]) == 3 and args[0].isdigit() and args[0] != "000":
            status_text = args[0]  # Caddy's rule: a lone three-digit argument is a status
        else:
            body = args[0]
        status = parse_count(status_text) if status_text is not None else 200
        if status is None or not 100 <= status <= 599:
            self.report.error(
                directive,
                f"invalid status '{status_text}' for respond: "
                "expected a number from 100 to 599, like 404",
            )
            return None
        try:
            template = compile_template(body)
        except ValueError as error:
            self.report.error(directive, f"respond: {error}")
            return None
        if not valid:
            return None
        respond = Respond(
            status=status,
            body=body,
            location=directive.location,
            template=None if template.is_static else template,
        )
        route = Route(matcher, handler=respond, location=directive.location)
        return _Entry("respond", matcher, directive, route=route)

    def _meaning_route(self, directive: Directive) -> _Entry | None:
        built = build_meaning_route(directive, self.report)
        if built is None:
            return None
        matcher_text, handler = built
        valid, matcher = self._matcher(directive, matcher_text)
        if not valid:
            return None
        route = Route(matcher, handler=handler, location=directive.location)
        self.meaning_lines.append((route, directive))
        return _Entry(MEANING_DIRECTIVE, matcher, directive, route=route)

    def _header_rule(self, directive: Directive) -> _Entry | None:
        args = directive.args
        matcher_text = args[0] if args and looks_like_matcher(args[0]) else None
        valid, matcher = self._matcher(directive, matcher_text)
        rest = args[1:] if matcher_text is not None else args
        rule = build_header_rule(directive, rest, matcher, self.report)
        if rule is None or not valid:
            return None
        return _Entry("header", matcher, directive, rule=rule)

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
        """Report routes that an earlier route with the same matcher, or without a matcher,
        always takes first. A matched block takes its requests too: pyjinn does not go on
        past a block whose routes match nothing."""
        taken: dict[PathMatcher | None, _Entry] = {}
        for entry in ordered:
            everything = taken.get(None)
            first = everything or taken.get(entry.matcher)
            if first is not None:
                self._report_unreachable(entry, first)
            else:
                taken.setdefault(entry.matcher, entry)

    def _report_unreachable(self, entry: _Entry, first: _Entry) -> None:
        matcher = entry.matcher if first.matcher is not None else None
        what = f"for {matcher.pattern} " if matcher else ""
        paths = "the same paths" if first.matcher is not None else "every request that reaches it"
        verb = "answers" if first.route is not None and first.route.handler else "takes"
        message = (
            f"this route {what}can never run: {describe(first.directive)} already {verb} {paths}"
        )
        if first.route is not None and first.route.handler is None:
            message += " (a matched block answers 404 when nothing in it matches)"
        if entry.name in FUNCTION_DIRECTIVES and first.name == "respond":
            message += (
                "; functions are tried after respond unless the global options say otherwise, "
                "like: order pyjinn before respond"
            )
        self.report.error(entry.directive, message)

    def name_functions(self, sites: list[Site]) -> list[Site]:
        """``sites`` with every function under its final, unique name (see the module doc)."""
        names: dict[int, str] = {}
        explicit: dict[str, _FunctionUse] = {}
        for use in self.uses:
            if not use.named:
                continue
            first = explicit.setdefault(use.spec.name, use)
            if first is not use:
                self.report.error_at(
                    use.directive.location,
                    f"function name '{use.spec.name}' is used twice ({describe(first.directive)}"
                    f" and {describe(use.directive)}); give one of them another 'name'",
                )
        taken = set(explicit)
        by_stem: dict[str, list[_FunctionUse]] = {}
        for use in self.uses:
            if not use.named:
                by_stem.setdefault(use.spec.name, []).append(use)
        for stem, uses in by_stem.items():
            if len(uses) == 1 and stem not in taken:
                taken.add(stem)
                continue
            for use, name in zip(uses, _derived_names(stem, uses, taken), strict=True):
                names[id(use.spec)] = name
                taken.add(name)
        if not names:
            return sites
        return [replace(site, routes=_renamed(site.routes, names)) for site in sites]


def _derived_names(stem: str, uses: list[_FunctionUse], taken: set[str]) -> list[str]:
    """Names for the unnamed functions of one module file: ``stem.ROUTE``, with the site
    when two routes look alike, and a count when even that is not enough."""
    routes = [_slug("-".join(use.scope)) or "root" for use in uses]
    names = [
        f"{stem}.{route}" if routes.count(route) == 1 else f"{stem}.{use.site}-{route}"
        for use, route in zip(uses, routes, strict=True)
    ]
    unique: list[str] = []
    for name in names:
        candidate, count = name, 1
        while candidate in taken or candidate in unique:
            count += 1
            candidate = f"{name}-{count}"
        unique.append(candidate)
    return unique


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.replace("*", "")).strip("-")


def _renamed(routes: tuple[Route, ...], names: dict[int, str]) -> tuple[Route, ...]:
    renamed = []
    for route in routes:
        handler = route.handler
        if isinstance(handler, FunctionSpec) and id(handler) in names:
            handler = replace(handler, name=names[id(handler)])
        inner = _renamed(route.routes, names) if route.routes else route.routes
        renamed.append(replace(route, handler=handler, routes=inner))
    return tuple(renamed)
