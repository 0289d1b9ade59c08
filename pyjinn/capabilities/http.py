"""The HTTP capability: outbound requests to the hosts a function's ``allow_host`` lists.

Granted by ``permissions { http }``, with the hosts in ``allow_host`` (``pyjinn.config.egress``).
Every call goes through the process's one outbound client (``pyjinn.egress``): the URL is checked
against the function's list before any connection, names are resolved once and the connection
pinned to the checked addresses (loopback, private, link-local and metadata addresses only when
listed themselves), redirects are re-checked at every hop (at most 5), the request body and the
answer are capped, and the whole call ends before the invocation's deadline, keeping back the
reserve every host call keeps (``Call.budget``), so the guest gets ``TIMEOUT`` and time to
answer rather than being stopped. Each refusal has its own code:

======================  =========================================================================
``DENIED``              the host (or a redirect's target) is not in ``allow_host``
``ADDRESS_REFUSED``     an allowed name resolved to an address that is not public and not listed
``LIMIT``               a body over 8 MiB, an answer over 8 MiB, more than 5 redirects
``TIMEOUT``             no whole answer in the time left
``UNAVAILABLE``         the connection failed (refused, reset, TLS, a name that does not resolve)
``INVALID``             a method, header or URL that cannot be sent as given
======================  =========================================================================

An answer of any status is a successful call: the guest reads the status. ``http_request``
returns a JSON line ``{"status", "headers": {"name": ["value", ...]}}`` (lower-case names),
a newline, then the body's bytes as they came. Gojinn's ``host_http_get`` copies what fits of the
body into its buffer and returns 0 for every error. Request and response bodies stay in the
invocation's record (crash records replay them exactly), never in logs.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyjinn import egress
from pyjinn.abi import ErrorCode
from pyjinn.capabilities import grants
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import Permissions
from pyjinn.egress import (
    AddressRefused,
    AllowList,
    EgressDenied,
    EgressError,
    EgressLimit,
    EgressTimeout,
    EgressUnavailable,
    parse_target,
)
from pyjinn.observability import tracing
from pyjinn.observability.metrics import REGISTRY as METRICS

if TYPE_CHECKING:  # the client (httpcore) is loaded with the first outbound call
    from pyjinn.egress import EgressClient, HttpAnswer

MiB = 1024 * 1024
# What the guest is told, and the metric's result label, for each refusal of the egress
# client; subclasses before their bases.
_REFUSALS: tuple[tuple[type[EgressError], ErrorCode, str], ...] = (
    (AddressRefused, ErrorCode.ADDRESS_REFUSED, "address_refused"),
    (EgressDenied, ErrorCode.DENIED, "denied"),
    (EgressTimeout, ErrorCode.TIMEOUT, "timeout"),
    (EgressLimit, ErrorCode.LIMIT, "limit"),
    (EgressUnavailable, ErrorCode.UNAVAILABLE, "unavailable"),
    (EgressError, ErrorCode.UNAVAILABLE, "unavailable"),
)
MAX_REQUEST_BODY = 8 * MiB
MAX_RESPONSE = 8 * MiB
MAX_HEADERS = 64 * 1024  # the headers argument, as JSON text
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Headers the host sets or that would change how the message is framed or the connection used.
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
     "trailer", "expect", "proxy-connection"}
)  # fmt: skip
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_BODY_METHODS = ("POST", "PUT", "PATCH")


class Http:
    name = "http"

    def __init__(
        self, allow_lists: Mapping[str, AllowList], client: EgressClient | None = None
    ) -> None:
        """``allow_lists`` holds each granted function's ``allow_host`` list, by name;
        ``client`` the outbound client (the process's shared one by default)."""
        self.allow_lists = allow_lists
        self.client = client

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        return grants.denial(permissions, call)  # the hosts are checked with the URL parsed

    # -- pyjinn ---------------------------------------------------------------------------------

    def http_request(
        self, call: Call, method: str, url: str, headers: bytes, body: tuple[int, int]
    ) -> bytes:
        checked_method = _method(method)
        header_list = _headers(headers)
        content = call.read(body, MAX_REQUEST_BODY, "a request body")
        sent = content if content or checked_method in _BODY_METHODS else None
        answer = self._send(call, checked_method, url, header_list, sent)
        grouped: dict[str, list[str]] = {}
        for name, value in answer.header_list:
            grouped.setdefault(name, []).append(value)
        head = json.dumps(
            {"status": answer.status, "headers": grouped}, ensure_ascii=False, separators=(",", ":")
        )
        return head.encode() + b"\n" + answer.body

    # -- gojinn ---------------------------------------------------------------------------------

    def host_http_get(self, call: Call, url: str, out: tuple[int, int]) -> int:
        answer = self._send(call, "GET", url, [], None)
        pointer, capacity = out
        copied = answer.body[: max(capacity, 0)]
        assert call.memory is not None
        call.memory.write(pointer, copied)
        return len(copied)

    # -- the one path out -----------------------------------------------------------------------

    def _send(
        self,
        call: Call,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
    ) -> HttpAnswer:
        host = call.context.host
        function = host.function if host is not None else ""
        allow = self.allow_lists.get(function)
        if allow is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no allow_host is set for this function")
        label = _host_label(url, allow)
        deadline = time.monotonic() + call.budget(ceiling=call.context.remaining())
        result = "error"
        try:
            answer = (self.client or egress.shared_client()).request(
                method,
                url,
                allow=allow,
                deadline=deadline,
                headers=headers,
                body=body,
                max_response=MAX_RESPONSE,
            )
            result = f"{answer.status // 100}xx"
        except EgressError as error:
            code, result = next(
                (code, label) for kind, code, label in _REFUSALS if isinstance(error, kind)
            )
            raise HostCallError(code, str(error)) from None
        finally:
            METRICS.http_request(function, label, result)
        if tracing.enabled:
            tracing.add_to_invocation(
                {"pyjinn.http.requests": 1, "pyjinn.http.response_bytes": len(answer.body)}
            )
        return answer


def _host_label(url: str, allow: AllowList) -> str:
    """The host a metric names: an allowed ``host:port``, else ``refused`` (a label never
    holds what a guest made up)."""
    try:
        target = parse_target(url)
    except EgressDenied:
        return "refused"
    if not allow.covers(target.host, target.port):
        return "refused"
    return f"{target.host}:{target.port}"


def _method(method: str) -> str:
    if method not in METHODS:
        raise HostCallError(
            ErrorCode.INVALID, f"method {method[:20]!r} is not one of {', '.join(METHODS)}"
        )
    return method


def _headers(data: bytes) -> list[tuple[str, str]]:
    """The request headers a guest passed: a JSON object of names to a string or an array of
    strings (empty: none), checked."""
    if not data:
        return []
    if len(data) > MAX_HEADERS:
        raise HostCallError(
            ErrorCode.LIMIT, f"headers of {len(data)} bytes exceed the limit of {MAX_HEADERS}"
        )
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise HostCallError(ErrorCode.INVALID, "headers are not JSON") from None
    if not isinstance(document, dict):
        raise HostCallError(
            ErrorCode.INVALID,
            "headers must be a JSON object of names to a string or an array of strings, like "
            '{"Accept": "application/json"}',
        )
    checked: list[tuple[str, str]] = []
    for name, values in document.items():
        if not _TOKEN.fullmatch(name):
            raise HostCallError(ErrorCode.INVALID, f"{name[:40]!r} is not a header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise HostCallError(
                ErrorCode.INVALID,
                f"header {name} is set by the host (it frames the message or picks the "
                "connection); leave it out",
            )
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or _BAD_VALUE.search(value):
                raise HostCallError(
                    ErrorCode.INVALID,
                    f"header {name} needs text values without control characters",
                )
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise HostCallError(
                    ErrorCode.INVALID, f"header {name} holds characters HTTP cannot carry"
                ) from None
            checked.append((name, value))
    return checked


def build_http(allow_lists: Mapping[str, AllowList]) -> Http:
    """The capability for the functions granted outbound HTTP (``allow_lists`` by function)."""
    return Http(allow_lists)
