"""Directives of a function's WebSocket connections (a function that upgrades its request).

::

    pyjinn /chat chat.wasm {
        timeout 60s                  # the idle time allowed between two messages
        max_duration 1h              # the whole connection, however busy
        max_message 64KiB            # each message, either way
        ws_origin https://app.example.com   # browser origins that may connect (repeatable)
        permissions { websocket }    # the grant to take a connection over
    }

Each connection holds one of the function's ``pool_size`` slots for its life, so ``pool_size``
bounds the connections of one function; the functions granted ``websocket`` together must leave
sandboxes for everything else (their pool sizes add up to less than ``max_instances``).
"""

from __future__ import annotations

from dataclasses import replace

from pyjinn.config.cors import normalize_origin
from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.model import Config, MiB, WebSocketSettings
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_duration, parse_size

# The largest message the server reads at all (uvicorn's ws_max_size under ``pyjinn up``): a
# longer one is refused while it arrives, before it is held whole.
MAX_MESSAGE_CEILING = 16 * MiB

USAGE = {
    "max_duration": "max_duration expects one duration, like: max_duration 1h",
    "max_message": "max_message expects one size from 1 byte to 16MiB, like: max_message 64KiB",
    "ws_origin": "ws_origin expects one or more origins (scheme://host[:port]) or *, like: "
    "ws_origin https://app.example.com",
}
DIRECTIVES = tuple(USAGE)


def apply_directive(
    directive: Directive, settings: WebSocketSettings, report: Diagnostics
) -> WebSocketSettings:
    """``settings`` with one of the directives above applied (unchanged on error)."""
    report.no_block(directive)
    name = directive.name
    if name == "ws_origin":
        origins = [_origin(directive, text, report) for text in directive.args]
        if not directive.args:
            report.error(directive, USAGE[name])
        if not directive.args or None in origins:
            return settings
        return replace(settings, origins=settings.origins + tuple(o for o in origins if o))
    text = report.single_arg(directive, USAGE[name])
    if text is None:
        return settings
    if name == "max_duration":
        try:
            seconds = parse_duration(text)
        except ValueError as error:
            report.error(directive, f"invalid duration '{text}' for max_duration: {error}")
            return settings
        if seconds <= 0:
            report.error(directive, f"max_duration must be more than 0, got '{text}'")
            return settings
        return replace(settings, max_duration=seconds)
    try:
        size = parse_size(text)
    except ValueError as error:
        report.error(directive, f"invalid size '{text}' for max_message: {error}")
        return settings
    if not 0 < size <= MAX_MESSAGE_CEILING:
        report.error(directive, f"max_message must be from 1 byte to 16MiB, got '{text}'")
        return settings
    return replace(settings, max_message=size)


def _origin(directive: Directive, text: str, report: Diagnostics) -> str | None:
    """``text`` as an origin compares (``normalize_origin``: any spelling of it), or None
    (reported) when it is not one."""
    if text == "*":
        return text
    try:
        return normalize_origin(text)
    except ValueError as error:
        report.error(directive, f"invalid origin '{text}' for ws_origin: {error}, or *")
        return None


def check_connection_room(config: Config, report: Diagnostics) -> None:
    """Refuse a config whose functions granted ``websocket`` could hold every sandbox of the
    process with connections (their ``pool_size`` add up to ``max_instances`` or more): other
    requests would then wait for a sandbox with no end in sight."""
    holders = [spec for spec in config.functions() if spec.permissions.websocket]
    total = sum(spec.pool_size for spec in holders)
    limit = config.options.max_instances
    if holders and total >= limit and holders[0].location is not None:
        names = ", ".join(f"{spec.name} ({spec.pool_size})" for spec in holders)
        report.error_at(
            holders[0].location,
            f"the pool_size of the functions that may hold WebSocket connections add up to "
            f"{total} ({names}), which leaves none of the max_instances {limit} sandboxes for "
            "other requests: lower their pool_size or raise max_instances",
        )
