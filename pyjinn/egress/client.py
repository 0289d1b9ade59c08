"""The process's outbound HTTP client: pooled, pinned to checked addresses, bound by a deadline.

:meth:`EgressClient.request` is the one way the host sends a request for a guest (a model call,
an ``http_request``, Gojinn's ``host_http_get``). For each hop (the first URL, then each
redirect, at most ``MAX_REDIRECTS``) it

1. parses the URL once and checks it against the function's allow-list before any connection
   (``pyjinn.egress.allow``);
2. takes a pooled connection, or connects: the name is resolved once, every address checked
   (``pyjinn.egress.addresses``), and the socket connected to a checked address. TLS still
   verifies the certificate against the *name*, which is also the SNI sent;
3. sends the request and reads the answer, refusing a body over ``max_response`` before it is
   buffered.

Connections are pooled per process and per allow-list (a connection opened under one function's
list is never handed to a request checked against another's), built on httpcore: each network
wait (resolution, connecting, TLS, each read and write, a wait for a pooled connection) is bound
by the time left before the request's deadline, read on the monotonic clock at the moment of the
wait, so no sequence of slow reads can run past it. Nothing comes from the environment: no
proxy (a proxy would move the allow-list's decision elsewhere), no ``.netrc``.
"""

from __future__ import annotations

import atexit
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpcore

from pyjinn.egress.addresses import Resolver, check_addresses, resolve, system_resolver
from pyjinn.egress.allow import AllowList, Target, shown_url
from pyjinn.egress.errors import EgressLimit, EgressTimeout, EgressUnavailable

MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE = 4 * 1024 * 1024
# Pools kept, one per distinct allow-list; the least recently used closes past this.
MAX_POOLS = 64
KEEPALIVE_SECONDS = 30.0
USER_AGENT = b"pyjinn"
_REDIRECTS = (301, 302, 303, 307, 308)
# Credentials a redirect to another origin does not carry along.
_ORIGIN_BOUND = frozenset({"authorization", "cookie", "proxy-authorization"})
_FAILURES = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
)

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


@dataclass(frozen=True)
class HttpAnswer:
    """A complete answer: status, headers (lower-case names; repeated ones joined with ``, ``),
    the headers as received (``header_list``, lower-case names) and the whole body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    header_list: tuple[tuple[str, str], ...] = ()


class _Deadline(threading.local):
    """The deadline of the request this thread is sending (``time.monotonic()``), if any."""

    at: float | None = None

    def bound(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the request's deadline has passed")
        return left if timeout is None else min(timeout, left)


_deadline = _Deadline()


class _BoundStream(httpcore.NetworkStream):
    """A connection's stream whose every wait ends by the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _deadline.bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _deadline.bound(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bound = _deadline.bound(timeout)
        return _BoundStream(self._stream.start_tls(ssl_context, server_hostname, bound))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to checked addresses of a host (see ``pyjinn.egress.addresses``)."""

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self._allow = allow
        self._resolver = resolver
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        started = time.monotonic()
        budget = _deadline.bound(timeout)
        deadline = started + (budget if budget is not None else 30.0)
        addresses = resolve(host, port, self._resolver, deadline - time.monotonic())
        check_addresses(host, port, addresses, self._allow)
        failure: Exception | None = None
        for address in addresses:  # each one checked; the first that accepts is used
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpcore.ConnectTimeout(f"no time left to connect to {host}")
            try:
                stream = self._tcp.connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
                continue
            return _BoundStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.UnsupportedProtocol("outbound requests never use a Unix socket")


class EgressClient:
    """The process's outbound HTTP client (see the module docstring). ``resolver`` turns a
    host name into addresses (the system's resolver by default); ``ssl_context`` verifies
    servers (the CA certificates of ``certifi`` by default)."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        resolver: Resolver = system_resolver,
        max_pools: int = MAX_POOLS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if ssl_context is None:
            import certifi  # httpx's own dependency: the same CA certificates as before

            ssl_context = ssl.create_default_context(cafile=certifi.where())
        self._ssl = ssl_context
        self._max_connections = max_connections
        self._resolver = resolver
        self._max_pools = max_pools
        self._pools: OrderedDict[AllowList, httpcore.ConnectionPool] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self,
        method: str,
        url: str,
        *,
        allow: AllowList,
        deadline: float,
        headers: Headers | None = None,
        body: bytes | None = None,
        max_response: int = DEFAULT_MAX_RESPONSE,
    ) -> HttpAnswer:
        """Send one request, following redirects to allowed hosts only, and return the whole
        answer. ``deadline`` is a ``time.monotonic()`` value. Raises ``EgressDenied`` (or its
        ``AddressRefused``) before sending anything to a host or address that is not allowed,
        ``EgressTimeout`` past the deadline, ``EgressLimit`` for an answer over
        ``max_response`` or too many redirects, ``EgressUnavailable`` for a failed
        connection."""
        given = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        previous: Target | None = None
        for _ in range(MAX_REDIRECTS + 1):
            target = allow.check(url)
            if previous is not None and previous.origin != target.origin:
                given = [item for item in given if item[0].lower() not in _ORIGIN_BOUND]
            answer, location = self._send(
                method, target, allow, deadline, given, body, max_response
            )
            if location is None:
                assert answer is not None
                return answer
            url, previous = urljoin(target.url, location), target
            if answer is not None and (
                answer.status == 303 or (answer.status in (301, 302) and method == "POST")
            ):
                method = "GET" if method != "HEAD" else method  # as browsers and clients do
                body = None
        raise EgressLimit(f"more than {MAX_REDIRECTS} redirects, the last to {shown_url(url)}")

    def _send(
        self,
        method: str,
        target: Target,
        allow: AllowList,
        deadline: float,
        given: list[tuple[str, str]],
        body: bytes | None,
        max_response: int,
    ) -> tuple[HttpAnswer | None, str | None]:
        """One hop: the answer, or (the redirect's status only, its Location)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise EgressTimeout("no time left for the request")
        pool = self._pool(allow)
        url = httpcore.URL(
            scheme=target.scheme.encode(),
            host=target.host.encode(),
            port=target.port,
            target=target.path.encode(),
        )
        _deadline.at = deadline
        try:
            with pool.stream(
                method.encode(),
                url,
                headers=_request_headers(target, given, body),
                content=body,
                extensions={"timeout": {"pool": remaining}},
            ) as response:
                received = [
                    (name.decode("latin-1").lower(), value.decode("latin-1"))
                    for name, value in response.headers
                ]
                location = next((value for name, value in received if name == "location"), None)
                if response.status in _REDIRECTS and location:
                    return HttpAnswer(response.status), location
                content = _read(response.iter_stream(), received, deadline, max_response)
        except httpcore.TimeoutException:
            raise EgressTimeout(f"no answer from {shown_url(target.url)} in time") from None
        except _FAILURES as error:
            detail = str(error).strip()[:200]
            reason = f"{type(error).__name__} ({detail})" if detail else type(error).__name__
            shown = shown_url(target.url)
            raise EgressUnavailable(f"request to {shown} failed: {reason}") from None
        finally:
            _deadline.at = None
        joined: dict[str, str] = {}
        for name, value in received:
            joined[name] = f"{joined[name]}, {value}" if name in joined else value
        return HttpAnswer(response.status, joined, content, tuple(received)), None

    def _pool(self, allow: AllowList) -> httpcore.ConnectionPool:
        with self._lock:
            if self._closed:
                raise EgressUnavailable("the outbound client is closed")
            pool = self._pools.get(allow)
            if pool is not None:
                self._pools.move_to_end(allow)
                return pool
            pool = self._pools[allow] = httpcore.ConnectionPool(
                ssl_context=self._ssl,
                max_connections=self._max_connections,
                max_keepalive_connections=16,
                keepalive_expiry=KEEPALIVE_SECONDS,
                network_backend=_PinnedBackend(allow, self._resolver),
            )
            evicted = None
            if len(self._pools) > self._max_pools:
                evicted = self._pools.popitem(last=False)[1]
        if evicted is not None:
            evicted.close()
        return pool

    def close(self) -> None:
        """Close every pooled connection; later requests fail with ``EgressUnavailable``."""
        with self._lock:
            self._closed = True
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()


def _request_headers(
    target: Target, given: list[tuple[str, str]], body: bytes | None
) -> list[tuple[bytes, bytes]]:
    """The headers sent: ``Host`` from the target (never the caller's), the caller's, a
    ``Content-Length`` for a body, and a ``User-Agent`` and ``Accept`` unless given."""
    names = {name.lower() for name, _ in given}
    headers = [(b"Host", target.host_header.encode())]
    headers += [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in given
        if name.lower() not in ("host", "content-length")
    ]
    if "user-agent" not in names:
        headers.append((b"User-Agent", USER_AGENT))
    if "accept" not in names:
        headers.append((b"Accept", b"*/*"))
    if body is not None:
        headers.append((b"Content-Length", str(len(body)).encode()))
    return headers


def _read(
    chunks: Iterator[bytes], headers: list[tuple[str, str]], deadline: float, max_response: int
) -> bytes:
    declared = next((value for name, value in headers if name == "content-length"), "")
    if declared.isdigit() and int(declared) > max_response:
        raise EgressLimit(f"the answer is {declared} bytes, over {max_response} bytes")
    received: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_response:
            raise EgressLimit(f"the answer is over {max_response} bytes")
        if time.monotonic() > deadline:
            raise EgressTimeout("the answer did not arrive in time")
        received.append(chunk)
    return b"".join(received)


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
