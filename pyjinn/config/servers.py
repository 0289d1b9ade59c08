"""The ``servers`` global option: timeouts and a connection cap for client connections.

::

    {
        servers {
            timeouts {
                read_header 10s   # a request's headers, from accept or from its first byte
                read_body   10s   # each wait for more of a request's body
                idle        5m    # a kept-alive connection waiting for its next request
            }
            max_connections 10000 # per worker; default: 3/4 of its open-file limit
        }
    }

The names are Caddy's (``servers { timeouts { ... } }``), so a Caddy file's settings load and
mean nearly the same; one difference is deliberate: Caddy's ``read_body`` bounds reading the
whole request, pyjinn's each wait between two reads of the body, so a slow but steady upload is
never cut off while a stalled one is. ``max_connections`` is pyjinn's own. The other Caddy
server options and Caddy's ``write`` timeout are refused by name.
"""

from __future__ import annotations

from typing import Any

from pyjinn.config.diagnostics import Diagnostics, describe, parse_count, suggestion
from pyjinn.config.model import ServerSettings
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_duration

SERVERS_USAGE = (
    "servers expects a block, like: servers { timeouts { read_header 10s } max_connections 10000 }"
)
# Timeout name -> the ServerSettings field it sets.
_TIMEOUTS = {
    "read_header": "read_header_timeout",
    "read_body": "read_body_timeout",
    "idle": "idle_timeout",
}
_SETTINGS = ("timeouts", "max_connections")
# Caddy's server options and timeouts that pyjinn does not implement.
_CADDY_ONLY = (
    "name",
    "listener_wrappers",
    "keepalive_interval",
    "trusted_proxies",
    "trusted_proxies_strict",
    "client_ip_headers",
    "metrics",
    "trace",
    "max_header_size",
    "enable_full_duplex",
    "log_credentials",
    "protocols",
    "strict_sni_host",
)
_CADDY_ONLY_TIMEOUTS = ("write",)


def build_servers(option: Directive, report: Diagnostics) -> ServerSettings | None:
    """The ServerSettings a ``servers`` option describes; None if it was wrong (reported)."""
    if option.args:
        report.error(
            option,
            "servers takes no listener address in pyjinn: its settings apply to every site, "
            f"like: servers {{ ... }} (got '{option.args[0]}')",
        )
        return None
    if option.block is None:
        report.error(option, SERVERS_USAGE)
        return None
    errors_before = len(report.errors)
    values: dict[str, Any] = {}
    seen: dict[str, Directive] = {}
    for line in option.block:
        if line.name in seen:
            _report_repeat(line, seen[line.name], report)
            continue
        seen[line.name] = line
        if line.name == "timeouts":
            values.update(_timeouts(line, report))
        elif line.name == "max_connections":
            count = _max_connections(line, report)
            if count is not None:
                values["max_connections"] = count
        elif line.name in _CADDY_ONLY:
            report.error(
                line,
                f"the servers option '{line.name}' is not supported by pyjinn "
                f"(supported: {', '.join(_SETTINGS)})",
            )
        else:
            report.error(
                line,
                f"unknown servers option '{line.name}'"
                + suggestion(line.name, [*_SETTINGS, *_CADDY_ONLY], _SETTINGS),
            )
    if len(report.errors) > errors_before:
        return None
    return ServerSettings(**values)


def _timeouts(directive: Directive, report: Diagnostics) -> dict[str, float]:
    if directive.args or directive.block is None:
        report.error(directive, "timeouts expects a block, like: timeouts { read_header 10s }")
        return {}
    values: dict[str, float] = {}
    seen: dict[str, Directive] = {}
    for line in directive.block:
        name = line.name
        if name in _CADDY_ONLY_TIMEOUTS:
            report.error(
                line,
                f"the '{name}' timeout is not supported by pyjinn "
                f"(supported: {', '.join(_TIMEOUTS)})",
            )
            continue
        if name not in _TIMEOUTS:
            report.error(
                line,
                f"unknown timeout '{name}'"
                + suggestion(name, [*_TIMEOUTS, *_CADDY_ONLY_TIMEOUTS], _TIMEOUTS),
            )
            continue
        if name in seen:
            _report_repeat(line, seen[name], report)
            continue
        seen[name] = line
        text = report.single_arg(line, f"{name} expects one duration, like: {name} 10s")
        if text is None:
            continue
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            report.error(line, f"invalid duration '{text}' for {name}: {error}")
            continue
        if seconds <= 0:
            report.error(line, f"{name} must be more than 0, got '{text}'")
            continue
        values[_TIMEOUTS[name]] = seconds
    return values


def _report_repeat(line: Directive, first: Directive, report: Diagnostics) -> None:
    report.error(line, f"'{line.name}' is set twice ({describe(first)} and {describe(line)})")


def _max_connections(directive: Directive, report: Diagnostics) -> int | None:
    text = report.single_arg(
        directive, "max_connections expects one positive integer, like: max_connections 10000"
    )
    if text is None:
        return None
    count = parse_count(text)
    if not count:
        report.error(
            directive,
            f"invalid number '{text}' for max_connections: expected a positive whole number",
        )
        return None
    return count
