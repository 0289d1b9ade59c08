"""Where a function's outbound HTTP may go: the ``http`` grant and ``allow_host``.

::

    allow_host api.example.com 127.0.0.1:8080   # the exact hosts (and ports) calls may reach
    pyjinn fetch.wasm {
        permissions { http }                    # http_request and Gojinn's host_http_get
    }

``allow_host`` may stand in the global options (for every function) and in a function block,
where it replaces the global list; its lines add up within one block (``pyjinn.config.ai``
parses them). It is one list per function: the same :class:`~pyjinn.egress.AllowList` bounds
the function's HTTP calls and, when given, its model calls. Checked here, when the config
loads:

- ``http`` without any ``allow_host`` is an error: a grant that reaches nothing is a mistake;
- ``allow_host`` in the block of a function that may make no outbound call at all (neither
  ``http`` nor the model) is an error: it would do nothing.
"""

from __future__ import annotations

from typing import Any

from pyjinn.config.diagnostics import Diagnostics
from pyjinn.config.model import Permissions
from pyjinn.config.parser import Directive
from pyjinn.egress import AllowList


def resolve_egress(
    values: dict[str, Any],
    own: dict[str, Directive],
    *,
    permissions: Permissions,
    calls_model: bool,
    permissions_line: Directive | None,
    written: bool,
    report: Diagnostics,
) -> AllowList:
    """A function's allow-list: ``values`` are its merged (function over global) ``ai_*`` and
    ``allow_host`` settings, ``own`` the valid lines of its own block; ``written`` says whether
    its block has an ``allow_host`` line at all (a wrong one is reported already)."""
    allow: AllowList | None = values.get("allow_host")
    if permissions.http and allow is None and permissions_line is not None and not written:
        report.error(
            permissions_line,
            "http needs allow_host: list the hosts this function's calls may reach, in its "
            "block or in the global options, like: allow_host api.example.com",
        )
    line = own.get("allow_host")
    if line is not None and not permissions.http and not calls_model:
        report.error(
            line,
            "allow_host lists the hosts this function's outbound calls may reach, but it may "
            "make none: add http (or ai) to its permissions block",
        )
    return allow or AllowList()
