"""Request placeholders in ``respond`` bodies and ``header`` values, as Caddy replaces them.

``{path}``, ``{query.NAME}``, ``{http.request.method}``, ``{http.request.header.NAME}`` and the
rest of :data:`SUPPORTED` (each under Caddy's long name and its Caddyfile shorthand) are replaced
per request. Text is read as Caddy's replacer reads it: each ``{`` opens a candidate that the
next ``}`` closes; ``\\{`` and ``\\}`` are literal braces. A candidate that is not a placeholder
stays as written, so JSON bodies survive (``{"a":{path}}`` keeps its outer braces and replaces
``{path}``).

Caddy placeholders pyjinn does not replace (``{http.request.tls.version}``, ``{vars.x}``,
``{system.hostname}``, ...) are refused when the config loads, by name, rather than served as
literal text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

_OPEN, _CLOSE, _ESCAPE = "{", "}", "\\"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What placeholders read from a request. ``path`` is the path the handler sees, decoded
    (after a ``handle_path`` prefix was removed); ``uri`` the request target with its query."""

    method: str
    uri: str
    path: str
    query: str
    headers: Sequence[tuple[bytes, bytes]]
    remote_host: str = ""
    remote_port: str = ""
    scheme: str = "http"
    proto: str = "HTTP/1.1"

    def header(self, name: str) -> str:
        """Every value of header ``name``, joined by commas (as Caddy does)."""
        wanted = name.lower().encode("latin-1", "replace")
        return ",".join(
            value.decode("latin-1") for key, value in self.headers if key.lower() == wanted
        )

    @property
    def hostport(self) -> str:
        return self.header("host")

    @property
    def host(self) -> str:
        hostport = self.hostport
        host, _, port = hostport.rpartition(":")
        if host and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
            return host.strip("[]")
        return hostport.strip("[]")

    @property
    def port(self) -> str:
        host, _, port = self.hostport.rpartition(":")
        if host and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
            return port
        return "443" if self.scheme == "https" else "80"


Getter = Callable[[RequestInfo], str]


def _query_values(info: RequestInfo, name: str) -> str:
    return ",".join(parse_qs(info.query, keep_blank_values=True).get(name, ()))


def _cookie(info: RequestInfo, name: str) -> str:
    for line in info.header("cookie").split(","):
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(line)
        except CookieError:
            continue
        if name in cookie:
            return cookie[name].value
    return ""


def _segment(info: RequestInfo, index: int) -> str:
    parts = info.path.split("/")
    if parts and parts[0] == "":
        parts = parts[1:]
    return parts[index] if index < len(parts) else ""


def _dir(info: RequestInfo) -> str:
    return info.path[: info.path.rfind("/") + 1]


def _file(info: RequestInfo) -> str:
    return info.path[info.path.rfind("/") + 1 :]


# Long name -> getter; each also answers to its Caddyfile shorthand (see _SHORTHANDS).
_FIXED: dict[str, Getter] = {
    "http.request.method": lambda info: info.method,
    "http.request.uri": lambda info: info.uri,
    "http.request.uri.path": lambda info: info.path,
    "http.request.uri.path.dir": _dir,
    "http.request.uri.path.file": _file,
    "http.request.uri.query": lambda info: info.query,
    "http.request.host": lambda info: info.host,
    "http.request.hostport": lambda info: info.hostport,
    "http.request.port": lambda info: info.port,
    "http.request.scheme": lambda info: info.scheme,
    "http.request.proto": lambda info: info.proto,
    "http.request.remote": lambda info: _join_host_port(info.remote_host, info.remote_port),
    "http.request.remote.host": lambda info: info.remote_host,
    "http.request.remote.port": lambda info: info.remote_port,
    "http.vars.client_ip": lambda info: info.remote_host,
}
_SHORTHANDS = {
    "method": "http.request.method",
    "uri": "http.request.uri",
    "path": "http.request.uri.path",
    "dir": "http.request.uri.path.dir",
    "file": "http.request.uri.path.file",
    "query": "http.request.uri.query",
    "host": "http.request.host",
    "hostport": "http.request.hostport",
    "port": "http.request.port",
    "scheme": "http.request.scheme",
    "remote": "http.request.remote",
    "remote_host": "http.request.remote.host",
    "remote_port": "http.request.remote.port",
    "client_ip": "http.vars.client_ip",
}
# Families with a name after the prefix: long prefix -> getter of (info, name).
_NAMED: dict[str, Callable[[RequestInfo, str], str]] = {
    "http.request.uri.query.": _query_values,
    "http.request.header.": lambda info, name: info.header(name),
    "http.request.cookie.": _cookie,
}
_NAMED_SHORTHANDS = {
    "query.": "http.request.uri.query.",
    "header.": "http.request.header.",
    "cookie.": "http.request.cookie.",
    "path.": "http.request.uri.path.",
}
_WORD = re.compile(r"[\w-]+")
# Caddy placeholders that exist but are not replaced here: refused, never served as text.
_REFUSED_SHORTHANDS = frozenset({
    "tls_cipher", "tls_version", "tls_client_fingerprint", "tls_client_issuer",
    "tls_client_serial", "tls_client_subject", "tls_client_certificate_pem",
    "tls_client_certificate_der_base64", "upstream_hostport",
})  # fmt: skip
_REFUSED_PREFIXES = (
    "http.", "labels.", "file.", "re.", "vars.", "rp.", "err.", "file_match.", "system.",
    "time.", "env.",
)  # fmt: skip
SUPPORTED = (
    "{path}", "{query}", "{query.NAME}", "{method}", "{host}", "{hostport}", "{port}",
    "{uri}", "{header.NAME}", "{cookie.NAME}", "{path.N}", "{dir}", "{file}", "{scheme}",
    "{remote}", "{remote_host}", "{remote_port}", "{client_ip}", "{http.request.proto}",
)  # fmt: skip


def _join_host_port(host: str, port: str) -> str:
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Placeholder:
    """One request placeholder: its long name (for a family, the prefix) and, for a family,
    the name or index after it. Plain data, so configs holding it can be pickled to workers."""

    key: str
    argument: str = ""

    def value(self, info: RequestInfo) -> str:
        fixed = _FIXED.get(self.key)
        if fixed is not None:
            return fixed(info)
        named = _NAMED.get(self.key)
        if named is not None:
            return named(info, self.argument)
        return _segment(info, int(self.argument))


_SEGMENT = "http.request.uri.path."


def _placeholder(key: str) -> Placeholder | None:
    """The placeholder ``{key}``, None if it is not a request placeholder we replace; raises
    ValueError for a Caddy placeholder pyjinn does not replace."""
    long = _SHORTHANDS.get(key, key)
    for short, prefix in _NAMED_SHORTHANDS.items():
        if key.startswith(short) and _WORD.fullmatch(key[len(short) :]):
            long = prefix + key[len(short) :]
    if long in _FIXED:
        return Placeholder(long)
    for prefix in _NAMED:
        name = long[len(prefix) :]
        if long.startswith(prefix) and name:
            return Placeholder(prefix, name)
    segment = long.removeprefix(_SEGMENT)
    if segment != long and segment.isdigit():
        return Placeholder(_SEGMENT, segment)
    if key in _REFUSED_SHORTHANDS or long.startswith(_REFUSED_PREFIXES):
        raise ValueError(
            f"placeholder {{{key}}} is not supported (supported: {', '.join(SUPPORTED)})"
        )
    return None


@dataclass(frozen=True)
class Template:
    """Text with request placeholders, compiled once: ``parts`` are literal text and
    placeholders. ``text`` is the text as written."""

    text: str
    parts: tuple[str | Placeholder, ...]

    @property
    def is_static(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    def render(self, info: RequestInfo | None) -> str:
        """The text for one request (``info`` may be None for a static template)."""
        if self.is_static:
            return "".join(part for part in self.parts if isinstance(part, str))
        assert info is not None
        return "".join(part if isinstance(part, str) else part.value(info) for part in self.parts)


def compile_template(text: str) -> Template:
    """``text`` read as Caddy's replacer reads it; raises ValueError naming a Caddy
    placeholder that pyjinn does not replace."""
    if _OPEN not in text and _CLOSE not in text:
        return Template(text, (text,))
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == _ESCAPE and text[index + 1 : index + 2] in (_OPEN, _CLOSE):
            literal.append(text[index + 1])
            index += 2
            continue
        if char != _OPEN:
            literal.append(char)
            index += 1
            continue
        end = _closing_brace(text, index)
        placeholder = _placeholder(text[index + 1 : end]) if end is not None else None
        if placeholder is None or end is None:
            literal.append(char)
            index += 1
            continue
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(placeholder)
        index = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(text, tuple(parts))


def _closing_brace(text: str, start: int) -> int | None:
    """The index of the first ``}`` after ``start`` that is not escaped."""
    end = text.find(_CLOSE, start)
    while end > 0 and text[end - 1] == _ESCAPE:
        end = text.find(_CLOSE, end + 1)
    return end if end != -1 else None
