"""Outbound HTTP that the host makes for a guest: one exact allow-list and one pooled client.

Every request the host sends on a guest's behalf (an LLM call today; ``host_http_get`` can use the
same) goes through :meth:`EgressClient.request`, which checks the URL against an
:class:`AllowList` **before any connection is made**, and checks every redirect target the same
way before following it. A host is allowed only by an entry that names it exactly: ``example.com``
does not allow ``api.example.com`` or ``example.com.evil.net`` (Gojinn matched substrings).

Entries are written ``HOST`` (any port) or ``HOST:PORT``; IPv6 addresses in brackets,
``[::1]:8080``. Host names compare case-insensitively, without a trailing dot, in their IDNA
(ASCII) form, so ``BÜCHER.example`` and ``xn--bcher-kva.example`` are one host. Only ``http``
and ``https`` URLs are ever sent, and never to a URL carrying credentials (``user@host``).

The client is one ``httpx.Client`` per process, made on first use (after a worker forks), with
a connection pool and no proxy from the environment (a proxy would move the allow-list's
decision elsewhere). Each request is bounded by a deadline on the monotonic clock: every network
wait is bounded by the time left when the request starts, the deadline is checked again between
chunks of the body, and the body is capped in size before it is buffered.
"""

from __future__ import annotations

import atexit
import ipaddress
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE = 4 * 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_SCHEMES = ("http", "https")


class EgressError(Exception):
    """An outbound request failed; ``str()`` says what and where, never the request body."""


class EgressDenied(EgressError):
    """The URL (or a redirect's target) is not allowed; nothing was sent to it."""


class EgressTimeout(EgressError):
    """No complete answer before the deadline."""


class EgressUnavailable(EgressError):
    """The connection failed, or the answer was malformed or too large."""


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
    if not text or any(character in text for character in "/:@?#[] \t"):
        raise ValueError(f"'{host}' is not a host name")
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"'{host}' is not a valid host name") from None
    return ascii_name


@dataclass(frozen=True)
class AllowEntry:
    """One allowed host, and its port (None: any port)."""

    host: str
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


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
class AllowList:
    """The hosts outbound requests may reach; empty allows nothing."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def parse(cls, texts: tuple[str, ...] | list[str]) -> AllowList:
        """An allow-list from ``allow_host`` arguments; raises ValueError naming a bad one."""
        return cls(tuple(parse_allow_entry(text) for text in texts))

    def denial(self, url: str) -> str | None:
        """Why ``url`` may not be requested, or None when it may."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return f"'{_shown(url)}' is not a valid URL"
        if parts.scheme not in _SCHEMES or not parts.hostname:
            return f"'{_shown(url)}' is not an http:// or https:// URL with a host"
        if parts.username is not None or parts.password is not None:
            return "URLs with credentials (user@host) are not sent"
        try:
            host = normalize_host(parts.hostname)
        except ValueError as error:
            return str(error)
        port = port if port is not None else (443 if parts.scheme == "https" else 80)
        for entry in self.entries:
            if entry.host == host and (entry.port is None or entry.port == port):
                return None
        shown = f"[{host}]" if ":" in host else host
        allowed = ", ".join(str(entry) for entry in self.entries) or "nothing"
        return f"host {shown}:{port} is not in allow_host (allowed: {allowed})"

    def check(self, url: str) -> None:
        """Raise ``EgressDenied`` unless ``url`` may be requested."""
        denial = self.denial(url)
        if denial is not None:
            raise EgressDenied(denial)


def _shown(url: str) -> str:
    """A URL for messages: without credentials or query, cut short."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url
    except ValueError:
        shown = url
    return shown[:120]


@dataclass(frozen=True)
class HttpAnswer:
    """A complete answer: status, headers (lower-case names) and the whole body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class EgressClient:
    """The process's outbound HTTP client (see the module docstring)."""

    def __init__(self, *, max_connections: int = 64) -> None:
        import httpx  # here, not at import: the config loader needs only the allow-list

        self._client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=16),
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        allow: AllowList,
        deadline: float,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        max_response: int = DEFAULT_MAX_RESPONSE,
    ) -> HttpAnswer:
        """Send one request, following redirects to allowed hosts only, and return the whole
        answer. ``deadline`` is a ``time.monotonic()`` value. Raises ``EgressDenied`` before
        sending anything to a host that is not allowed, ``EgressTimeout`` past the deadline,
        ``EgressUnavailable`` for a failed connection or an answer over ``max_response``."""
        import httpx

        for _ in range(MAX_REDIRECTS + 1):
            allow.check(url)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EgressTimeout("no time left for the request")
            try:
                with self._client.stream(
                    method, url, headers=headers, content=body, timeout=httpx.Timeout(remaining)
                ) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = urljoin(url, location)
                        if response.status_code not in (307, 308):
                            method, body = "GET", None  # as browsers and HTTP clients do
                        continue
                    content = _read(response, deadline, max_response)
                    return HttpAnswer(
                        response.status_code,
                        {name.lower(): value for name, value in response.headers.items()},
                        content,
                    )
            except httpx.TimeoutException:
                raise EgressTimeout(f"no answer from {_shown(url)} in time") from None
            except httpx.HTTPError as error:
                raise EgressUnavailable(
                    f"request to {_shown(url)} failed: {type(error).__name__}"
                ) from None
        raise EgressUnavailable(f"more than {MAX_REDIRECTS} redirects, the last to {_shown(url)}")

    def close(self) -> None:
        self._client.close()


def _read(response: httpx.Response, deadline: float, max_response: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_response:
        raise EgressUnavailable(f"the answer is {declared} bytes, over {max_response} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_response:
            raise EgressUnavailable(f"the answer is over {max_response} bytes")
        if time.monotonic() > deadline:
            raise EgressTimeout("the answer did not arrive in time")
        chunks.append(chunk)
    return b"".join(chunks)


_shared: EgressClient | None = None
_shared_lock = threading.Lock()


def shared_client() -> EgressClient:
    """The process's one outbound client, made on first use and closed when the process exits
    (its pooled connections are closed, not dropped)."""
    global _shared
    client = _shared
    if client is None:
        with _shared_lock:
            if _shared is None:
                _shared = EgressClient()
                atexit.register(_shared.close)
            client = _shared
    return client
