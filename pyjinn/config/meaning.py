"""``route_by_meaning``: a site route that picks a function by what the request says.

::

    route_by_meaning /ask {
        to billing "invoices, refunds, charges" "I was charged twice"
        to support "login problems, passwords"
        fallback helpdesk           # when no score reaches the threshold (default: 404)
        threshold 0.35              # cosine similarity, default 0.35
        field question             # read the text from this JSON body field (default: the body)
    }

``to NAME TEXT...`` names a function defined anywhere in the config and one or more texts that
say what it is for (a description, then example phrases). The routing itself is in
``pyjinn.ai.routing``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyjinn.config.diagnostics import Diagnostics, describe, suggestion
from pyjinn.config.model import MeaningRoute, MeaningTarget, Route
from pyjinn.config.parser import Directive
from pyjinn.extras import MissingExtra, require_embeddings

MEANING_DIRECTIVE = "route_by_meaning"
USAGE = (
    "route_by_meaning expects an optional path matcher and a block of 'to FUNCTION TEXT...' "
    'lines, like: route_by_meaning /ask { to billing "invoices, refunds" }'
)
DEFAULT_THRESHOLD = 0.35
_LINES = ("to", "fallback", "threshold", "field")


def build_meaning_route(
    directive: Directive, report: Diagnostics
) -> tuple[str | None, MeaningRoute] | None:
    """(the matcher text, the route) of a ``route_by_meaning`` block; None if it was wrong."""
    if directive.block is None or len(directive.args) > 1:
        report.error(directive, USAGE)
        return None
    errors_before = len(report.errors)
    targets: list[MeaningTarget] = []
    seen: dict[str, Directive] = {}
    threshold = DEFAULT_THRESHOLD
    fallback: str | None = None
    field: str | None = None
    for line in directive.block:
        report.no_block(line)
        if line.name not in _LINES:
            report.error(
                line,
                f"unknown line '{line.name}' in route_by_meaning"
                + suggestion(line.name, _LINES, _LINES),
            )
            continue
        if line.name == "to":
            if len(line.args) < 2 or not all(text.strip() for text in line.args[1:]):
                report.error(
                    line,
                    "to expects a function name and at least one text, like: "
                    'to billing "invoices, refunds, charges"',
                )
                continue
            name = line.args[0]
            if name in seen:
                report.error(
                    line,
                    f"function '{name}' is a target twice ({describe(seen[name])} "
                    f"and {describe(line)}); give it one line with all its texts",
                )
                continue
            seen[name] = line
            targets.append(MeaningTarget(name, tuple(line.args[1:])))
            continue
        if line.name in seen:
            report.error(
                line,
                f"'{line.name}' is set twice ({describe(seen[line.name])} and {describe(line)})",
            )
            continue
        seen[line.name] = line
        if len(line.args) != 1:
            report.error(line, f"{line.name} expects one value, like: {_EXAMPLES[line.name]}")
        elif line.name == "fallback":
            fallback = line.args[0]
        elif line.name == "field":
            field = line.args[0]
        else:
            try:
                threshold = float(line.args[0])
            except ValueError:
                threshold = -2.0
            if not -1 <= threshold <= 1:
                report.error(
                    line,
                    f"invalid threshold '{line.args[0]}': expected a cosine "
                    "similarity from -1 to 1, like 0.35",
                )
    if not targets and len(report.errors) == errors_before:
        report.error(directive, USAGE)
    try:
        require_embeddings()
    except MissingExtra as missing:
        report.error(directive, str(missing))
    if len(report.errors) > errors_before:
        return None
    matcher = directive.args[0] if directive.args else None
    route = MeaningRoute(
        tuple(targets), threshold, fallback, field, directive.location, path=matcher or "*"
    )
    return matcher, route


_EXAMPLES = {"fallback": "fallback helpdesk", "threshold": "threshold 0.35", "field": "field text"}


def check_meaning_targets(
    meaning_lines: list[tuple[Route, Directive]],
    function_names: Sequence[str],
    report: Diagnostics,
) -> None:
    """Every function a ``route_by_meaning`` names must be defined somewhere in the config."""
    known = list(function_names)
    for route, directive in meaning_lines:
        handler = route.handler
        assert isinstance(handler, MeaningRoute)
        names = [target.function for target in handler.targets]
        if handler.fallback is not None:
            names.append(handler.fallback)
        for name in names:
            if name not in function_names:
                report.error(
                    directive,
                    f"route_by_meaning names function '{name}', which is not defined "
                    + (f"(defined: {', '.join(known)})" if known else "(no function is defined)"),
                )
