"""The function contract: the JSON a guest reads on stdin and the JSON it must write on stdout.

Request (stdin)::

    {"method", "uri", "path", "query": {name: [values]}, "headers": {Name: [values]},
     "body", "body_encoding"?, "remote_addr", "trace_id", "tenant", "job_id"?, "attempt"?}

Response (stdout)::

    {"status", "headers": {Name: [values] | value}, "body", "body_encoding"?}

Header names reach the guest in Go's canonical form (``Content-Type``), as Gojinn guests expect.
A body that is not valid UTF-8 travels base64-encoded with ``"body_encoding": "base64"``, in
both directions. Anything a guest writes that does not fit this shape is the guest's error:
``decode_response`` raises ``GuestError`` (invalid output) and nothing else, whatever the bytes.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs

from pyjinn.errors import GuestError, GuestFault

Headers = list[tuple[bytes, bytes]]

# Headers the server owns, dropped from a guest's answer: framing (a guest's own values would
# contradict the body it sent), hop-by-hop headers (they describe one connection, and the
# connection to the client is the server's) and Date (the server sends its own).
_SERVER_HEADERS = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"upgrade",
        b"te",
        b"trailer",
        b"date",
    }
)
# What one response may carry: far beyond what any page needs, and small enough that a guest
# cannot make the server assemble, log or send an unbounded header block.
MAX_RESPONSE_HEADERS = 100
MAX_RESPONSE_HEADER_BYTES = 64 * 1024  # names and values
# How deep arrays and objects may nest in a guest's answer; the response itself needs three
# levels. Checked without recursion after parsing (see _nests_deeper_than).
MAX_NESTING = 64
_TOO_DEEP = f"nests arrays and objects more than {MAX_NESTING} levels deep"
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Control characters other than tab: CR and LF would inject headers, and the HTTP server
# refuses to send any of them (which would turn the guest's mistake into a host error).
_FORBIDDEN_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_ZERO_TRACE = "0" * 32


@functools.lru_cache(maxsize=2048)
def canonical_header_name(name: bytes) -> str:
    """Go's canonical header form: ``content-type`` → ``Content-Type``."""
    text = name.decode("latin-1")
    if not _TOKEN.fullmatch(name):
        return text
    return "-".join(part[:1].upper() + part[1:].lower() for part in text.split("-"))


def trace_id_from(traceparent: str | None) -> str:
    """The trace id of a valid W3C ``traceparent`` header, or a new random one."""
    if traceparent:
        match = _TRACEPARENT.match(traceparent.strip())
        if match and match.group(1) != _ZERO_TRACE:
            return match.group(1)
    # Trace ids need to be unique, not secret: the process's PRNG (reseeded in every forked
    # worker) is an order of magnitude cheaper than a getrandom(2) call per request.
    return f"{random.getrandbits(128) | 1:032x}"


def encode_body(body: bytes) -> tuple[str, bool]:
    """``body`` as JSON text: itself when it is UTF-8, else base64 (second item True)."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def encode_request(
    *,
    method: str,
    uri: str,
    path: str,
    query_string: bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    remote_addr: str,
    trace_id: str,
    tenant: str = "",
    job_id: str = "",
    attempt: int = 0,
) -> bytes:
    """The stdin document for one request; ``uri`` is the request target as sent. A job's
    request also says which job it is and which attempt this is (1 for the first)."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(canonical_header_name(name), []).append(value.decode("latin-1"))
    # Clients may send non-ASCII query bytes unescaped; read them as UTF-8, like %-escapes.
    query_text = query_string.decode("utf-8", "replace")
    text, is_base64 = encode_body(body)
    document: dict[str, object] = {
        "method": method,
        "uri": uri,
        "path": path,
        "query": parse_qs(query_text, keep_blank_values=True) if query_text else {},
        "headers": grouped,
        "body": text,
    }
    if is_base64:
        document["body_encoding"] = "base64"
    document["remote_addr"] = remote_addr
    document["trace_id"] = trace_id
    if tenant:
        document["tenant"] = tenant
    if job_id:
        document["job_id"] = job_id
        document["attempt"] = attempt
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Response:
    """A guest's answer, checked and ready to send."""

    status: int
    headers: Headers
    body: bytes


def _invalid(problem: str) -> GuestError:
    return GuestError(
        GuestFault.INVALID_OUTPUT,
        "function returned an invalid response",
        f"guest output {problem}",
    )


def decode_response(stdout: bytes) -> Response:
    """Check and convert a guest's stdout; raises ``GuestError`` (invalid output) if wrong,
    and no other exception whatever ``stdout`` holds: what a guest wrote is its own fault."""
    if not stdout.strip():
        raise _invalid("is empty: a function must write one JSON object to stdout")
    try:
        document = json.loads(stdout)
        if not isinstance(document, dict):
            raise _invalid(f"must be a JSON object, got {type(document).__name__}")
        # Fewer brackets than levels allowed (the common case) cannot nest too deep.
        if stdout.count(b"[") + stdout.count(b"{") > MAX_NESTING and _nests_deeper_than(
            document, MAX_NESTING
        ):
            raise _invalid(_TOO_DEEP)
        return Response(
            status=_status(document.get("status")),
            headers=_headers(document.get("headers")),
            body=_body(document.get("body"), document.get("body_encoding")),
        )
    except GuestError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        snippet = stdout[:80].decode("utf-8", "replace")
        raise _invalid(f"is not valid JSON ({error}); it starts with {snippet!r}") from None
    except RecursionError:  # the parser's own guard, far beyond MAX_NESTING
        raise _invalid(_TOO_DEEP) from None
    except Exception as error:  # a decoder's limit (huge integers, memory): still the guest's
        raise _invalid(f"could not be decoded ({type(error).__name__}: {error})") from None


def _nests_deeper_than(document: dict[str, object], limit: int) -> bool:
    """Whether arrays and objects in ``document`` (level 1) nest more than ``limit`` levels,
    found without recursion."""
    pending: list[tuple[Iterable[object], int]] = [(document.values(), 1)]
    while pending:
        children, level = pending.pop()
        for child in children:
            if isinstance(child, dict):
                child = child.values()
            elif not isinstance(child, list):
                continue
            if level == limit:
                return True
            pending.append((child, level + 1))
    return False


def _status(value: object) -> int:
    if value is None or (type(value) is int and value == 0):
        return 200  # Gojinn treats a missing or zero status as 200
    if type(value) is not int or not 200 <= value <= 599:
        raise _invalid(f"has status {value!r}; expected an integer from 200 to 599")
    return value


def _headers(value: object) -> Headers:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _invalid(f"has headers of type {type(value).__name__}; expected an object")
    headers: Headers = []
    size = 0
    has_server = False
    for name, values in value.items():
        encoded_name = name.encode("latin-1", "replace")
        if not _TOKEN.fullmatch(encoded_name):
            raise _invalid(f"has an invalid header name {name!r}")
        if isinstance(values, str):
            values = [values]
        elif not (isinstance(values, list) and all(isinstance(item, str) for item in values)):
            raise _invalid(
                f"has header {name!r} with a value that is not a string or list of strings"
            )
        lowered = encoded_name.lower()
        if lowered in _SERVER_HEADERS:
            continue
        if lowered == b"server":
            # One Server header: the server sends none of its own, and never two.
            if has_server or not values:
                continue
            values, has_server = values[:1], True
        if len(headers) + len(values) > MAX_RESPONSE_HEADERS:
            raise _invalid(
                f"has more than {MAX_RESPONSE_HEADERS} headers (the most a response may carry)"
            )
        for item in values:
            try:
                encoded_value = item.encode("latin-1")
            except UnicodeEncodeError:
                raise _invalid(f"has header {name!r} with non-Latin-1 characters") from None
            if _FORBIDDEN_IN_VALUE.search(encoded_value):
                raise _invalid(
                    f"has header {name!r} with a control character (such as a line break or "
                    "NUL) in its value; only tab is allowed"
                )
            size += len(lowered) + len(encoded_value)
            if size > MAX_RESPONSE_HEADER_BYTES:
                raise _invalid(
                    f"has headers of more than {MAX_RESPONSE_HEADER_BYTES} bytes in total "
                    "(names and values; the most a response may carry)"
                )
            headers.append((lowered, encoded_value))
    return headers


def _body(value: object, encoding: object) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _invalid(f"has a body of type {type(value).__name__}; expected a string")
    if encoding in (None, ""):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("has a body with unpaired UTF-16 surrogates") from None
    if encoding == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("has body_encoding base64 but the body is not valid base64") from None
    raise _invalid(f'has body_encoding {encoding!r}; expected "base64" or none')
