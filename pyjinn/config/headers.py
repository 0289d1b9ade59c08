"""The ``header`` directive: response headers set, added or removed, as Caddy's ``header``.

::

    header Content-Type application/json     # set (replaces the field)
    header +Link "</a.css>; rel=preload"     # add a value
    header -Server                           # delete (also -X-Debug-*, -*-Token)
    header ?Cache-Control no-store           # set only if the answer did not
    header >X-Frame-Options DENY             # set after the answer's own headers
    header /api/* {                          # a matcher, and a block of fields
        Access-Control-Allow-Origin *
        defer
    }

Values may hold request placeholders (``{http.request.header.Origin}``). Caddy's find/replace
form (``header Field find replace``) and response matchers (``match { ... }``) are refused by
name.
"""

from __future__ import annotations

import re

from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.model import HeaderOperation, HeaderRule
from pyjinn.config.parser import Directive
from pyjinn.config.paths import PathMatcher
from pyjinn.config.placeholders import Template, compile_template

USAGE = (
    "header expects a field and a value, like: header X-Frame-Options DENY, or a block of "
    "fields: header { +Vary Origin }"
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ACTIONS = {"+": "add", "-": "delete", "?": "default", ">": "set"}


def build_header_rule(
    directive: Directive, args: tuple[str, ...], matcher: PathMatcher | None, report: Diagnostics
) -> HeaderRule | None:
    """The rule of a ``header`` directive whose arguments after the matcher are ``args``;
    None if anything in it was wrong (reported)."""
    lines: list[tuple[Directive, tuple[str, ...]]] = []
    if args:
        lines.append((directive, args))
    deferred = False
    for line in directive.block or ():
        if line.name == "defer" and not line.args:
            deferred = True
            continue
        if line.name == "match":
            report.error(line, "header: response matchers (match { ... }) are not supported")
            return None
        if args:
            report.error(line, "header: give fields either after the directive or in its block")
            return None
        report.no_block(line)
        lines.append((line, (line.name, *line.args)))
    if not lines:
        report.error(directive, USAGE)
        return None
    operations: list[HeaderOperation] = []
    defaults: list[HeaderOperation] = []
    valid = True
    for line, words in lines:
        operation = _operation(line, words, report)
        if operation is None:
            valid = False
        elif operation.action == "default":
            defaults.append(operation)
        else:
            operations.append(operation)
            deferred |= operation.action == "delete" or words[0].startswith(">")
    if not valid:
        return None
    return HeaderRule(
        matcher,
        tuple(operations),
        tuple(defaults),
        deferred=deferred,
        location=directive.location,
    )


def _operation(
    line: Directive, words: tuple[str, ...], report: Diagnostics
) -> HeaderOperation | None:
    field = words[0].removesuffix(":")
    if len(words) > 3:
        report.error(line, USAGE)
        return None
    if len(words) == 3:
        report.error(
            line,
            f"header: find and replace ({field} {words[1]} {words[2]}) is not supported; "
            "set the whole value instead",
        )
        return None
    action = _ACTIONS.get(field[:1], "set")
    name = field[1:] if field[:1] in _ACTIONS else field
    wildcard = name.strip("*") if action == "delete" else name
    if action == "delete" and name == "*":
        wildcard = "all"  # -* deletes every field
    if not wildcard or not _TOKEN.fullmatch(wildcard) or "*" in wildcard:
        report.error(line, f"header: invalid field name '{field}'")
        return None
    if action == "delete":
        if len(words) > 1:
            report.error(line, f"header: -{name} deletes the field and takes no value")
            return None
        return HeaderOperation("delete", name.lower())
    value: Template | None
    try:
        value = compile_template(words[1] if len(words) > 1 else "")
    except ValueError as error:
        report.error(line, f"header {name}: {error}")
        return None
    return HeaderOperation(action, name.lower(), value)
