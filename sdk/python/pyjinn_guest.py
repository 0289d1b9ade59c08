"""pyjinn_guest: the Python SDK for pyjinn functions (host ABI version 1).

A Python function is a ``handler.py`` that defines ``handle(request)``::

    from pyjinn_guest import Request, Response, kv_get, NotFound

    def handle(request: Request) -> Response:
        name = request.query_param("name", "world")
        try:
            greeting = kv_get("greetings/" + name).decode()
        except NotFound:
            greeting = f"Hello, {name}!"
        return Response.text(greeting)

pyjinn runs it with CPython for WASI in a fresh sandbox per request, started from an image of
the interpreter taken after ``handler.py`` was imported, so module-level code runs once per
process, not per request, and its results (imports, tables, compiled regexes) are there for
every request. Host calls made while the module is imported fail with ``Unavailable``.

``handle`` returns a ``Response``, or for short: a ``str`` (200, text/plain), ``bytes``
(200, application/octet-stream), or a ``dict`` or ``list`` (200, JSON).

Host calls reach the host ABI (docs/abi.md) through the interpreter's one custom import, which
carries a frame naming an ABI function and its arguments; ``FUNCTIONS`` below declares how each
is encoded, and the host decodes it with pyjinn/abi.py, the one table both sides are checked
against. Failures raise a ``HostError`` subclass, one per ABI error code, with the host's
message.
"""

from __future__ import annotations

import base64
import enum
import gc
import importlib.util
import json
import os
import struct
import sys
from collections.abc import Iterable, Mapping
from typing import Any

ABI_VERSION = 1

# The pyjinn host functions this SDK calls: name -> (argument kinds, result kind), in the terms
# of pyjinn/abi.py (Arg and Returns tags). The frame for a call is the name, then each argument
# by its kind: i32 as 4 bytes; str, bytes and sized as a 4-byte length and the bytes; out as a
# 4-byte capacity. The answer is the result as 8 bytes, then the out buffer.
FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "log": (("i32", "bytes"), "nothing"),
    "result_read": (("out",), "count"),
    "error_read": (("out",), "count"),
    "kv_get": (("str",), "data"),
    "kv_set": (("str", "bytes"), "status"),
    "kv_delete": (("str",), "status"),
    "kv_list": (("str",), "data"),
    "db_query": (("str", "bytes"), "data"),
    "db_exec": (("str", "bytes"), "data"),
    "blob_put": (("str", "sized"), "status"),
    "blob_get": (("str",), "data"),
    "blob_delete": (("str",), "status"),
    "blob_list": (("str",), "data"),
    "job_enqueue": (("str", "sized", "str"), "data"),
    "ai_chat": (("bytes",), "data"),
    "ai_embed": (("bytes",), "data"),
    "http_request": (("str", "str", "bytes", "sized"), "data"),
    "lock_acquire": (("str", "i32", "i32"), "data"),
    "lock_release": (("str", "str"), "status"),
    "ws_upgrade": ((), "status"),
    "ws_read": (("i32",), "data"),
    "ws_write": (("i32", "sized"), "status"),
    "ws_close": (("i32", "str"), "status"),
}

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_I64 = struct.Struct("<q")


# ---- errors ---------------------------------------------------------------------------------


class ErrorCode(enum.IntEnum):
    """The host's error codes (pyjinn.abi.ErrorCode)."""

    NOT_FOUND = -1
    DENIED = -2
    INVALID = -3
    UNAVAILABLE = -4
    LIMIT = -5
    INTERNAL = -6
    BUDGET = -7
    RATE_LIMITED = -8
    TIMEOUT = -9
    ADDRESS_REFUSED = -10
    BUSY = -11
    CLOSED = -12


class HostError(Exception):
    """A host call failed; ``code`` is the ABI's error code, ``message`` the host's words."""

    code = ErrorCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(HostError):
    code = ErrorCode.NOT_FOUND


class Denied(HostError):
    code = ErrorCode.DENIED


class Invalid(HostError):
    code = ErrorCode.INVALID


class Unavailable(HostError):
    code = ErrorCode.UNAVAILABLE


class LimitExceeded(HostError):
    code = ErrorCode.LIMIT


class Internal(HostError):
    code = ErrorCode.INTERNAL


class Timeout(HostError):
    """The call ran out of time (an outbound request)."""

    code = ErrorCode.TIMEOUT


class AddressRefused(HostError):
    """An allowed host resolved to an address outbound calls may not reach."""

    code = ErrorCode.ADDRESS_REFUSED


class Busy(HostError):
    """The lock is held by another holder."""

    code = ErrorCode.BUSY


class Closed(HostError):
    """The WebSocket connection is closed (its close was read)."""

    code = ErrorCode.CLOSED


_ERRORS: dict[int, type[HostError]] = {
    cls.code: cls
    for cls in (
        NotFound, Denied, Invalid, Unavailable, LimitExceeded, Internal, Timeout, AddressRefused,
        Busy, Closed,
    )
}  # fmt: skip


# ---- the raw ABI ----------------------------------------------------------------------------


def call(name: str, *args: int | str | bytes) -> tuple[int, bytes]:
    """Call host function ``name`` of the ABI with ``args`` (int for i32 and out capacities,
    str or bytes for the others): (its result, the out buffer's bytes). Raises ``Unavailable``
    outside pyjinn."""
    kinds, _result = FUNCTIONS[name]
    if len(args) != len(kinds):
        raise TypeError(f"{name} takes {len(kinds)} arguments, not {len(args)}")
    encoded = name.encode()
    frame = bytearray((len(encoded),))
    frame += encoded
    for kind, value in zip(kinds, args, strict=True):
        if kind in ("i32", "out"):
            frame += _I32.pack(value) if kind == "i32" else _U32.pack(value)  # type: ignore[arg-type]
        else:
            data = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
            frame += _U32.pack(len(data))
            frame += data
    try:
        import _host  # type: ignore[import-not-found]  # the interpreter's host door
    except ImportError:
        raise Unavailable("pyjinn_guest reaches the host only inside pyjinn") from None
    try:
        answer = _host.call(frame)
    except OSError as error:
        raise Unavailable(f"the host did not answer {name}: {error}") from None
    return _I64.unpack_from(answer)[0], bytes(answer[8:])


def _checked(name: str, result: int) -> int:
    if result < 0:
        raise _ERRORS.get(result, Internal)(last_error() or f"{name} failed with code {result}")
    return result


def _data(name: str, *args: int | str | bytes) -> bytes:
    """A data call, then result_read into a buffer of exactly the result's length."""
    length = _checked(name, call(name, *args)[0])
    copied, data = call("result_read", length)
    _checked("result_read", copied)
    return data[:copied]


def last_error() -> str:
    """The message of the last failed host call in this invocation ("" when none failed)."""
    length, _ = call("error_read", 0)
    if length <= 0:
        return ""
    copied, data = call("error_read", length)
    return data[: max(copied, 0)].decode("utf-8", "replace")


# ---- host calls -----------------------------------------------------------------------------


class Level(enum.IntEnum):
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


def log(message: str | bytes, level: Level | int = Level.INFO) -> None:
    """Write a record to the function's log (the host keeps the first 4096 bytes). A refused
    call (a level other than 0-3) raises ``Invalid``."""
    data = message.encode() if isinstance(message, str) else message
    call("log", int(level), data)
    if not 0 <= int(level) <= 3:
        raise Invalid(last_error())


def kv_get(key: str) -> bytes:
    """A key's value; ``NotFound`` when it has none."""
    return _data("kv_get", key)


def kv_set(key: str, value: str | bytes) -> None:
    _checked("kv_set", call("kv_set", key, value)[0])


def kv_delete(key: str) -> None:
    """Delete a key; deleting a missing key is not an error."""
    _checked("kv_delete", call("kv_delete", key)[0])


def kv_list(prefix: str = "") -> list[str]:
    """The readable keys that start with ``prefix``."""
    keys: list[str] = json.loads(_data("kv_list", prefix))
    return keys


def _params(params: Iterable[Any] | None) -> bytes:
    if params is None:
        return b""
    return json.dumps(
        [{"base64": base64.b64encode(p).decode()} if isinstance(p, bytes) else p for p in params]
    ).encode()


def db_query(sql: str, params: Iterable[Any] | None = None) -> dict[str, Any]:
    """Run one statement with bound ``params`` (bytes travel as {"base64": ...}):
    {"columns": [...], "rows": [[...], ...]}."""
    result: dict[str, Any] = json.loads(_data("db_query", sql, _params(params)))
    return result


def db_exec(sql: str, params: Iterable[Any] | None = None) -> dict[str, Any]:
    """Run one statement that changes data: {"rows_affected": N, "last_insert_id": N|None}."""
    result: dict[str, Any] = json.loads(_data("db_exec", sql, _params(params)))
    return result


def blob_put(key: str, data: str | bytes) -> None:
    _checked("blob_put", call("blob_put", key, data)[0])


def blob_get(key: str) -> bytes:
    """An object's bytes; ``NotFound`` when there is none."""
    return _data("blob_get", key)


def blob_delete(key: str) -> None:
    _checked("blob_delete", call("blob_delete", key)[0])


def blob_list(prefix: str = "") -> list[dict[str, Any]]:
    """The readable objects under ``prefix``: [{"key": ..., "size": ...}], sorted by key."""
    objects: list[dict[str, Any]] = json.loads(_data("blob_list", prefix))
    return objects


def job_enqueue(function: str, payload: str | bytes = b"", idempotency_key: str = "") -> str:
    """Enqueue a job of ``function`` (granted by jobs_enqueue) for this request's tenant, with
    ``payload`` as its request body; returns the job's id. A non-empty ``idempotency_key``
    makes every enqueue with the same key the same job."""
    return _data("job_enqueue", function, payload, idempotency_key).decode()


def ai_chat(request: dict[str, Any]) -> dict[str, Any]:
    """Ask the model (permissions { ai }): an OpenAI-style chat request (``{"messages": ...}``,
    without the model); the answer: ``{"text", "finish_reason", "model", "usage", "cached"}``."""
    answer: dict[str, Any] = json.loads(_data("ai_chat", json.dumps(request).encode()))
    return answer


def ai_embed(texts: str | list[str]) -> dict[str, Any]:
    """Embed texts with the local model: ``{"model", "dimensions", "embeddings"}``."""
    answer: dict[str, Any] = json.loads(_data("ai_embed", json.dumps(texts).encode()))
    return answer


class HttpResponse:
    """An answer to an outbound request: ``status``, ``headers`` (lower-case names, each with
    its values in order) and ``body``."""

    def __init__(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    method: str,
    url: str,
    headers: Mapping[str, str | list[str]] | None = None,
    body: str | bytes = b"",
) -> HttpResponse:
    """Send an HTTP request (permissions { http }; only to the hosts allow_host lists). Any
    status is an answer; the refusals raise: ``Denied`` (a host or a redirect's target not
    listed), ``AddressRefused``, ``LimitExceeded`` (over 8 MiB, more than 5 redirects),
    ``Timeout``, ``Unavailable``, ``Invalid``."""
    fields = json.dumps(dict(headers)).encode() if headers else b""
    answer = _data("http_request", method, url, fields, body)
    head, _, content = answer.partition(b"\n")
    document = json.loads(head)
    return HttpResponse(document["status"], document["headers"], content)


def lock_acquire(name: str, ttl_seconds: int, wait_ms: int = 0) -> str:
    """Take this tenant's lock ``name`` (permissions { lock NAMESPACE }) for at most
    ``ttl_seconds`` (1 to 86400), waiting up to ``wait_ms`` for its holder to let go; returns
    the token that releases it. Raises ``Busy`` when another holds it. Locks still held when
    the invocation ends are released then."""
    length = _checked("lock_acquire", call("lock_acquire", name, ttl_seconds, wait_ms)[0])
    copied, data = call("result_read", length)
    _checked("result_read", copied)
    return data[:copied].decode()


def lock_release(name: str, token: str) -> None:
    """Release a lock with its token: ``Denied`` when another holds it, ``NotFound`` when
    nobody does (its TTL ran out)."""
    _checked("lock_release", call("lock_release", name, token)[0])


# ---- WebSocket connections -------------------------------------------------------------------


class WsOpcode(enum.IntEnum):
    """A message's type, as WebSocket numbers it."""

    TEXT = 1
    BINARY = 2
    CLOSE = 8  # the end of the connection


class WsMessage:
    """One message of a WebSocket connection: ``data`` is the payload (a close's reason), and
    ``close_code`` a close's code (1000 normal, 1001 idle timeout or max_duration, ...)."""

    __slots__ = ("close_code", "data", "opcode")

    def __init__(self, opcode: WsOpcode, data: bytes, close_code: int = 0) -> None:
        self.opcode = opcode
        self.data = data
        self.close_code = close_code

    def text(self) -> str:
        return self.data.decode("utf-8")


def ws_upgrade() -> None:
    """Take over the WebSocket connection of the request being served (permissions
    { websocket }): ``handle`` holds it until it returns; its timeout is then the idle time
    allowed between messages. ``Invalid`` when the request is not a WebSocket upgrade,
    ``Closed`` when the client has left."""
    _checked("ws_upgrade", call("ws_upgrade")[0])


def ws_read(wait: float | None = None) -> WsMessage:
    """The next message, waiting up to ``wait`` seconds (None: until the idle timeout);
    ``NotFound`` when none came in time. The end of the connection comes once, as a message
    with opcode ``CLOSE``; after it, ``Closed``."""
    wait_ms = -1 if wait is None else min(max(int(wait * 1000), 0), 2**31 - 1)
    block = _data("ws_read", wait_ms)
    try:
        opcode = WsOpcode(block[0])
    except (IndexError, ValueError):
        raise Internal(f"ws_read: the host sent no known opcode ({block[:1].hex()})") from None
    if opcode is WsOpcode.CLOSE and len(block) >= 3:
        return WsMessage(opcode, block[3:], int.from_bytes(block[1:3], "big"))
    return WsMessage(opcode, block[1:])


def ws_write(message: str | bytes) -> None:
    """Send a message: text for a ``str``, binary for ``bytes``. Waits while the client is
    behind; ``LimitExceeded`` for a message over max_message, or a client that read nothing
    until the idle timeout was near (the connection is then closed); ``Closed`` once it is
    closed."""
    opcode = WsOpcode.TEXT if isinstance(message, str) else WsOpcode.BINARY
    _checked("ws_write", call("ws_write", int(opcode), message)[0])


def ws_close(code: int = 1000, reason: str = "") -> None:
    """Close the connection with ``code`` (1000, or 3000 to 4999) and a reason of at most 123
    bytes, after the messages written before."""
    _checked("ws_close", call("ws_close", code, reason)[0])


# ---- the request and the response -----------------------------------------------------------


class Request:
    """The request, decoded from the JSON on stdin (docs/contract.md). ``body`` is bytes
    (decoded when it travelled as base64); ``headers`` and ``query`` map names to lists of
    values as they arrived."""

    __slots__ = (
        "body",
        "headers",
        "method",
        "path",
        "query",
        "remote_addr",
        "tenant",
        "trace_id",
        "uri",
    )

    def __init__(self, envelope: Mapping[str, Any]) -> None:
        self.method: str = envelope.get("method", "")
        self.uri: str = envelope.get("uri", "")
        self.path: str = envelope.get("path", "")
        self.remote_addr: str = envelope.get("remote_addr", "")
        self.trace_id: str = envelope.get("trace_id", "")
        self.tenant: str = envelope.get("tenant", "")
        self.query: dict[str, list[str]] = dict(envelope.get("query") or {})
        self.headers: dict[str, list[str]] = {
            name: [values] if isinstance(values, str) else list(values)
            for name, values in (envelope.get("headers") or {}).items()
        }
        body = envelope.get("body") or ""
        if envelope.get("body_encoding") == "base64":
            self.body: bytes = base64.b64decode(body)
        else:
            self.body = body.encode("utf-8", "surrogatepass")

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``, compared without regard to case."""
        values = self.header_values(name)
        return values[0] if values else default

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for key, values in self.headers.items() if key.lower() == wanted for v in values]

    def query_param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name`` (compared exactly)."""
        values = self.query.get(name)
        return values[0] if values else default

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


class Response:
    """What a function answers: a status, headers as (name, value) pairs, and a body."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        status: int = 200,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        body: str | bytes = b"",
    ) -> None:
        self.status = status
        items = headers.items() if isinstance(headers, Mapping) else headers
        self.headers: list[tuple[str, str]] = [(str(n), str(v)) for n, v in items]
        self.body = body

    @classmethod
    def text(
        cls, body: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"
    ) -> Response:
        return cls(status, [("Content-Type", content_type)], body)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, [("Content-Type", "application/json")], json.dumps(value))

    def encode(self) -> bytes:
        """The response as the JSON document pyjinn reads from stdout. Headers of the same
        name (any case) become one list; a body that is not UTF-8 travels base64-encoded."""
        grouped: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for name, value in self.headers:
            for text in (name, value):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise Invalid(f"header {name!r} is not UTF-8 text") from None
            key = names.setdefault(name.lower(), name)
            grouped.setdefault(key, []).append(value)
        document: dict[str, Any] = {"status": self.status, "headers": grouped}
        body = self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)
        try:
            document["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            document["body"] = base64.b64encode(body).decode("ascii")
            document["body_encoding"] = "base64"
        return json.dumps(document, ensure_ascii=False).encode("utf-8")


def as_response(result: Any) -> Response:
    """What ``handle`` returned, as a ``Response``."""
    if isinstance(result, Response):
        return result
    if isinstance(result, str):
        return Response.text(result)
    if isinstance(result, bytes | bytearray):
        return Response(200, [("Content-Type", "application/octet-stream")], bytes(result))
    if isinstance(result, dict | list):
        return Response.json(result)
    raise TypeError(
        f"handle() returned {type(result).__name__}; expected a Response, str, bytes, dict or list"
    )


# ---- inside pyjinn: preparation and serving -------------------------------------------------

_handle: Any = None


class _Bundle:
    """Imports the function's own modules from the sources pyjinn embedded in the image."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)

    def _path(self, fullname: str) -> tuple[str, bool] | None:
        base = fullname.replace(".", "/")
        if f"{base}/__init__.py" in self.files:
            return f"{base}/__init__.py", True
        if f"{base}.py" in self.files:
            return f"{base}.py", False
        return None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        found = self._path(fullname)
        if found is None:
            return None
        filename, package = found
        spec = importlib.util.spec_from_loader(fullname, self, origin=filename, is_package=package)
        if spec is not None:
            spec.has_location = True
        return spec

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        filename = module.__spec__.origin
        module.__file__ = filename
        exec(compile(self.files[filename], filename, "exec"), module.__dict__)

    def get_source(self, fullname: str) -> str | None:
        found = self._path(fullname)
        return self.files[found[0]] if found else None


def _prepare(files: Mapping[str, str], argv: list[str]) -> None:
    """Import the function's handler (pyjinn calls this once, then keeps the memory image)."""
    global _handle
    import linecache

    sys.argv = list(argv)
    for filename, source in files.items():  # tracebacks show the function's source lines
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.meta_path.insert(0, _Bundle(files))
    import handler  # type: ignore[import-not-found]

    function = getattr(handler, "handle", None)
    if not callable(function):
        raise TypeError("handler.py defines no function handle(request)")
    _handle = function
    # Everything prepared so far lives as long as the image: the collector need never look
    # at it again, so a request's collections walk (and touch) only its own objects.
    gc.collect()
    gc.freeze()
    sys.stdout.flush()
    sys.stderr.flush()


def _serve() -> None:
    """Answer one request: stdin to ``handle`` to stdout; exit at once, without the
    interpreter's shutdown (the sandbox goes away with everything in it)."""
    status = 0
    try:
        random = sys.modules.get("random")
        if random is not None:  # seeded while preparing: every request would draw the same
            random.seed()
        request = Request(json.loads(sys.stdin.buffer.read()))
        sys.stdout.buffer.write(as_response(_handle(request)).encode())
    except SystemExit as stop:
        status = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback  # only when a request fails: the image stays smaller

        traceback.print_exc()
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)
