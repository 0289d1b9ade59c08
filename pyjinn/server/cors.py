"""CORS for functions with ``cors_origin``: their preflights answered without running them, and
the ``Access-Control-*`` fields of their answers decided by the configuration alone.

- **Preflights** (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) never reach
  the function: they need no API key (browsers send none), take no rate-limit token, and are
  answered ``204`` with ``Access-Control-Allow-Origin``, ``-Allow-Methods`` (the method asked
  for: functions answer every method), ``-Allow-Headers`` (the headers asked for),
  ``-Max-Age`` and, with ``cors_credentials on``, ``-Allow-Credentials``. A preflight from an
  origin that is not allowed (or asking for a malformed method or header name) gets ``403``
  and no CORS fields.
- **Other requests** run as usual: CORS is the browser's rule, not access control. An answer to
  an allowed origin carries ``Access-Control-Allow-Origin`` (``*`` when every origin is allowed
  and credentials are off, else the origin itself) and, with credentials, ``-Allow-Credentials:
  true``; to any other origin, none. ``Access-Control-Allow-Origin`` and ``-Allow-Credentials``
  from the function itself are dropped (the configuration decides who may read; a function
  cannot widen it); its other fields, like ``Access-Control-Expose-Headers``, stay, with the
  rate-limit fields added to them for a limited function.
- ``Vary: Origin`` (added to the function's own ``Vary``) on every answer that depends on the
  origin: all of them, except with ``*`` and no credentials, where ``*`` is the answer for
  everyone. A preflight's also names ``Access-Control-Request-Method`` and ``-Headers``.
- ``header`` directives apply to these answers as to any other: after the CORS fields, so a
  deferred rule (``header >Access-Control-Max-Age 60``, ``header -Vary``) has the last word.

``Cors.allows`` (``pyjinn.config.model``) is the one origin rule, shared with WebSocket
upgrades.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyjinn.config.model import Cors
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.server.asgi import Scope

Headers = list[tuple[bytes, bytes]]

MAX_AGE = b"600"  # seconds a browser may reuse a preflight's answer (Chromium caps it at 7200)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_OWNED = (b"access-control-allow-origin", b"access-control-allow-credentials")
_PREFLIGHT_VARY = (b"Origin", b"Access-Control-Request-Method", b"Access-Control-Request-Headers")
_REFUSED = b'{"error": "CORS preflight refused: this origin may not call this function"}'


def is_preflight(scope: Scope) -> bool:
    """Whether the request is a CORS preflight: ``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``."""
    if scope["method"] != "OPTIONS":
        return False
    names = {name for name, _ in scope["headers"]}
    return b"origin" in names and b"access-control-request-method" in names


def preflight(cors: Cors, function: str, scope: Scope) -> tuple[int, Headers, bytes]:
    """The answer to a preflight for a function with ``cors``: (status, headers, body)."""
    origin = method = None
    asked: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"origin" and origin is None:
            origin = value
        elif name == b"access-control-request-method" and method is None:
            method = value.strip()
        elif name == b"access-control-request-headers":
            asked.extend(part.strip() for part in value.split(b",") if part.strip())
    vary = (b"vary", b", ".join(_PREFLIGHT_VARY))
    allowed = (
        origin is not None
        and method is not None
        and cors.allows(origin.decode("latin-1"))
        and _TOKEN.fullmatch(method) is not None
        and all(_TOKEN.fullmatch(name) for name in asked)
    )
    METRICS.cors_preflight(function, "allowed" if allowed else "refused")
    if not allowed:
        return 403, [(b"content-type", b"application/json"), vary], _REFUSED
    assert origin is not None and method is not None
    headers = [*_allow_origin(cors, origin), (b"access-control-allow-methods", method)]
    if asked:
        headers.append((b"access-control-allow-headers", b", ".join(asked)))
    headers += [(b"access-control-max-age", MAX_AGE), vary]
    return 204, headers, b""


def with_cors(
    cors: Cors, origin: str | None, own: Sequence[tuple[bytes, bytes]], exposed: Sequence[bytes]
) -> Headers:
    """The headers ``own`` of an answer to a request from ``origin`` (its ``Origin`` header),
    with the CORS fields the configuration gives it; ``exposed`` are fields pyjinn adds that a
    page may read (the rate-limit ones)."""
    headers = [header for header in own if header[0].lower() not in _OWNED]
    if origin is not None and cors.allows(origin):
        headers += _allow_origin(cors, origin.encode("latin-1"))
        if exposed:
            _merge_list(headers, b"access-control-expose-headers", exposed)
    if not cors.any_origin or cors.credentials:
        _merge_list(headers, b"vary", (b"Origin",))
    return headers


def _allow_origin(cors: Cors, origin: bytes) -> Headers:
    if cors.any_origin and not cors.credentials:
        return [(b"access-control-allow-origin", b"*")]
    headers = [(b"access-control-allow-origin", origin)]
    if cors.credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


def _merge_list(headers: Headers, name: bytes, values: Sequence[bytes]) -> None:
    """Add ``values`` to the comma-separated field ``name`` of ``headers`` (those not in it
    yet, compared without regard to case), or add the field."""
    for index, (field, value) in enumerate(headers):
        if field.lower() == name:
            present = {part.strip().lower() for part in value.split(b",")}
            if b"*" in present:
                return  # Vary: * (or Expose-Headers: *) already covers them
            missing = [item for item in values if item.lower() not in present]
            if missing:
                headers[index] = (field, value + b", " + b", ".join(missing))
            return
    headers.append((name, b", ".join(values)))
