"""The allow-list (``allow_host``) and the one parse of a URL both it and the client trust.

A host is allowed only by an entry that names it exactly: ``example.com`` does not allow
``api.example.com`` or ``example.com.evil.net`` (Gojinn matched substrings). Entries are written
``HOST`` (any port) or ``HOST:PORT``; IPv6 addresses in brackets, ``[::1]:8080``. Host names
compare case-insensitively, without a trailing dot, in their IDNA (ASCII) form, so
``BÜCHER.example`` and ``xn--bcher-kva.example`` are one host. Only ``http`` and ``https`` URLs
are ever sent, and never a URL carrying credentials (``user@host``).

A URL is parsed once, by :func:`parse_target`, into the :class:`Target` the allow-list checks
*and* the client connects to: two parsers that disagree about where a URL points are how
allow-lists are bypassed (``http://allowed\\@evil/``), so there is one, and it refuses what it
would have to guess about (spaces, control characters, backslashes).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from pyjinn.egress.errors import EgressDenied

MAX_URL_LENGTH = 8192
_SCHEMES = {"http": 80, "https": 443}
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\\]")
# What stays as it is in a path and a query; everything else is percent-encoded (a '%' that
# starts an escape stays, so an encoded URL is not encoded twice).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def normalize_host(host: str) -> str:
    """``host`` as compared: lower case, no trailing dot, IDNA (ASCII) form for names; IPv6
    without brackets. Raises ValueError for something that is not a host."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if not text:
        raise ValueError("empty host")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    text = text.rstrip(".").lower()
    if not text or any(character in text for character in "/:@?#[]% \t\\"):
        raise ValueError(f"'{host}' is not a host name")
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"'{host}' is not a valid host name") from None
    return ascii_name


def is_address(host: str) -> bool:
    """Whether a normalized host is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def shown_host(host: str, port: int | None = None) -> str:
    """A host (and port) as a URL writes it: IPv6 in brackets."""
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


@dataclass(frozen=True)
class AllowEntry:
    """One allowed host, and its port (None: any port)."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        return shown_host(self.host, self.port)

    def covers(self, host: str, port: int) -> bool:
        return self.host == host and (self.port is None or self.port == port)


def parse_allow_entry(text: str) -> AllowEntry:
    """``HOST`` or ``HOST:PORT`` (``[IPv6]:PORT``) to an entry; raises ValueError."""
    port: int | None = None
    host = text
    if "://" in text or "/" in text:
        raise ValueError(f"'{text}' is a URL; give the host alone, like api.example.com")
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0:
            raise ValueError(f"'{text}': an IPv6 address needs its closing ']'")
        host, rest = text[: closing + 1], text[closing + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"'{text}': expected [IPv6] or [IPv6]:PORT")
            port = _port(text, rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(text, port_text)
    return AllowEntry(normalize_host(host), port)


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"'{text}': the port must be a number from 1 to 65535")
    return int(port_text)


@dataclass(frozen=True)
class Target:
    """Where a URL points, as the client will reach it: scheme, normalized host, port (the
    scheme's default when the URL has none), and the request target (the path and query,
    percent-encoded; the fragment is never sent)."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the port only when it is not the scheme's default."""
        default = _SCHEMES[self.scheme] == self.port
        return shown_host(self.host, None if default else self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


def parse_target(url: str) -> Target:
    """The target of ``url``; raises ``EgressDenied`` saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise EgressDenied(f"the URL is {len(url)} characters long, more than {MAX_URL_LENGTH}")
    if _UNSAFE_IN_URL.search(url):
        raise EgressDenied(
            f"'{shown_url(url)}' is not a valid URL: it holds a space, a control character or "
            "a backslash (percent-encode them)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressDenied(f"'{shown_url(url)}' is not a valid URL") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise EgressDenied(f"'{shown_url(url)}' is not an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise EgressDenied("URLs with credentials (user@host) are not sent")
    try:
        host = normalize_host(parts.hostname)
    except ValueError as error:
        raise EgressDenied(str(error)) from None
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    return Target(parts.scheme, host, port if port is not None else _SCHEMES[parts.scheme], path)


@dataclass(frozen=True)
class AllowList:
    """The hosts outbound requests may reach; empty allows nothing."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, texts: tuple[str, ...] | list[str]) -> AllowList:
        """An allow-list from ``allow_host`` arguments; raises ValueError naming a bad one."""
        return cls(tuple(parse_allow_entry(text) for text in texts))

    def covers(self, host: str, port: int) -> bool:
        """Whether an entry names ``host`` (normalized) and allows ``port``."""
        return any(entry.covers(host, port) for entry in self.entries)

    def denial(self, url: str) -> str | None:
        """Why ``url`` may not be requested, or None when it may."""
        try:
            self.check(url)
        except EgressDenied as error:
            return str(error)
        return None

    def check(self, url: str) -> Target:
        """The target of ``url``; raises ``EgressDenied`` unless it may be requested."""
        target = parse_target(url)
        if not self.covers(target.host, target.port):
            allowed = ", ".join(str(entry) for entry in self.entries) or "nothing"
            raise EgressDenied(
                f"host {shown_host(target.host, target.port)} is not in allow_host "
                f"(allowed: {allowed})"
            )
        return target


def shown_url(url: str) -> str:
    """A URL for messages: without credentials or query, cut short."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url
    except ValueError:
        shown = url
    return shown[:120]
