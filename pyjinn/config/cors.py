"""``cors_origin`` and ``cors_credentials``, in the global options (every function's default) or
in a function block; what they do to answers is ``pyjinn.server.cors``.

The ``cors_*`` lines of a block go together: a function block with any of them uses its own and
none of the global ones (``cors_origin off`` turns CORS off for it). Origins are checked when
the file loads and must be written exactly as browsers send them, because they are compared
exactly: ``https://app.example.com``, ``http://localhost:8080``. ``*`` allows every origin and
cannot be combined with other origins or with credentials.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pyjinn.config.diagnostics import Diagnostics, describe
from pyjinn.config.model import Cors
from pyjinn.config.parser import Directive

CORS_ORIGIN = "cors_origin"
CORS_CREDENTIALS = "cors_credentials"
CORS_DIRECTIVES = (CORS_ORIGIN, CORS_CREDENTIALS)
USAGE = {
    CORS_ORIGIN: "cors_origin expects origins as browsers send them, or *, like: "
    "cors_origin https://app.example.com",
    CORS_CREDENTIALS: "cors_credentials expects on or off, like: cors_credentials on",
}
OFF = "off"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def normalize_origin(text: str) -> str:
    """The origin ``text`` names, as browsers serialize origins (lower-case scheme and host,
    IPv6 compressed, no default port); raises ``ValueError`` saying what is wrong when ``text``
    is not an origin. The one parser of origins: ``cors_origin``, ``ws_origin`` and the
    ``Origin`` of WebSocket handshakes."""
    expected = "expected scheme://host[:port] with http or https, like https://app.example.com"
    scheme, separator, _ = text.partition("://")
    if not separator or scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(expected)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(f"its port or address is invalid; {expected}") from None
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"an origin holds no user name or password; {expected}")
    if ":" in host:
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValueError(f"'{host}' is not an IPv6 address; {expected}") from None
    elif "*" in host:
        raise ValueError("patterns are not supported: list each origin, or give * alone")
    elif not _HOSTNAME.fullmatch(host):
        raise ValueError(f"'{host}' is not a host name (use punycode for IDN); {expected}")
    scheme = scheme.lower()
    canonical = f"{scheme}://{host}"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        canonical += f":{port}"
    if parts.path or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError(f"an origin has no path, query or fragment: write {canonical}")
    return canonical


def canonical_origin(text: str) -> str:
    """``text`` as browsers serialize an origin; raises ``ValueError`` saying what is wrong,
    also when ``text`` names an origin spelled otherwise (browsers compare them exactly)."""
    canonical = normalize_origin(text)
    if canonical != text:
        raise ValueError(f"browsers send it as {canonical}: write that")
    return canonical


def build_cors(
    origin_lines: list[Directive],
    credentials_line: Directive | None,
    report: Diagnostics,
    *,
    in_function: bool,
) -> Cors | str | None:
    """The CORS settings of one block's ``cors_*`` lines: a Cors, ``OFF`` (a function block's
    ``cors_origin off``), or None when the block has none or something was wrong (reported)."""
    credentials = _credentials(credentials_line, report)
    if credentials_line is not None and not origin_lines:
        scope = "this block" if in_function else "the global options"
        report.error(
            credentials_line,
            f"cors_credentials goes with the origins it applies to: add cors_origin ORIGIN to "
            f"{scope}",
        )
        return None
    origins: list[str] = []
    where: dict[str, Directive] = {}
    valid = True
    for line in origin_lines:
        report.no_block(line)
        if not line.args:
            report.error(line, USAGE[CORS_ORIGIN])
            valid = False
        for text in line.args:
            if text == OFF:
                valid = _check_off(line, origin_lines, in_function, report) and valid
                continue
            if text != "*":
                try:
                    canonical_origin(text)
                except ValueError as error:
                    report.error(line, f"invalid origin '{text}' for cors_origin: {error}")
                    valid = False
                    continue
            if text in where:
                report.error(
                    line, f"origin {text} is listed twice ({describe(where[text])} and here)"
                )
                valid = False
                continue
            if origins and (text == "*" or "*" in where):
                first = where[origins[0]]
                elsewhere = f" ({origins[0]} is at {describe(first)})" if first is not line else ""
                report.error(
                    line,
                    "cors_origin * allows every origin: give either * or exact origins, not "
                    f"both{elsewhere}",
                )
                valid = False
                continue
            where[text] = line
            origins.append(text)
    if not valid or (credentials_line is not None and credentials is None):
        return None
    if not origins:  # a lone cors_origin off (checked above)
        if credentials_line is not None:
            report.error(credentials_line, "cors_credentials goes with origins, not with off")
            return None
        return OFF if origin_lines else None
    if credentials and "*" in where:
        assert credentials_line is not None
        report.error(
            credentials_line,
            f"cors_credentials on cannot go with cors_origin * ({describe(where['*'])}): "
            "browsers refuse credentials for a wildcard, and reflecting any origin with them "
            "would let every site act as the user; list the exact origins",
        )
        return None
    return Cors(tuple(origins), credentials=bool(credentials))


def _credentials(line: Directive | None, report: Diagnostics) -> bool | None:
    if line is None:
        return None
    text = report.single_arg(line, USAGE[CORS_CREDENTIALS])
    if text in ("on", "off"):
        return text == "on"
    if text is not None:
        report.error(line, f"invalid value '{text}' for cors_credentials: expected on or off")
    return None


def _check_off(
    line: Directive, lines: list[Directive], in_function: bool, report: Diagnostics
) -> bool:
    if not in_function:
        report.error(
            line, "cors_origin off belongs in a function block (it lifts the global cors_origin)"
        )
        return False
    if line.args != (OFF,) or len(lines) > 1:
        report.error(line, "cors_origin off turns CORS off: it stands alone, without origins")
        return False
    return True
