"""The host ABI: every function a guest may import, in one table.

This table is the single source of truth. The host defines its functions from it, the docs
(docs/abi.md) describe it, and the SDK tests compile each SDK and compare the imports of the
resulting module with it, so host and SDK signatures cannot drift apart.

Conventions of import module ``pyjinn`` (version 1):

- Strings and bytes are passed as ``(pointer, length)`` pairs of i32 in guest memory.
- A call that yields data returns an i64: ``>= 0`` is the length of the result, which the host
  keeps until the guest copies it with ``result_read(pointer, length)``. Nothing is truncated
  silently and nothing runs twice.
- Negative results are ``ErrorCode`` values; ``error_read`` copies the last error's message.
- A bad pointer or length is the guest's error (``INVALID``), never a host failure.

Import module ``gojinn`` carries Gojinn's own functions with Gojinn's signatures and result
conventions, so modules built with Gojinn's SDKs run unchanged.

Each function names the grant it needs, as a line of a ``permissions`` block writes it. A module
whose imports need a grant its function lacks is refused when it loads; the dispatcher checks
the same grant (and the key's namespace) again on every call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

ABI_VERSION = 1
PYJINN = "pyjinn"
GOJINN = "gojinn"


class ErrorCode(enum.IntEnum):
    """Negative results of ``pyjinn`` host calls."""

    NOT_FOUND = -1
    DENIED = -2
    INVALID = -3  # bad argument, bad pointer or length, bad key
    UNAVAILABLE = -4  # backend down or not configured
    LIMIT = -5  # size or quota exceeded
    INTERNAL = -6  # host fault
    BUDGET = -7  # the tenant's budget for the call is spent for now (ai_tokens_per_minute)
    RATE_LIMITED = -8  # the service behind the call refused for its own rate limit (HTTP 429)
    TIMEOUT = -9  # the call ran out of time before the invocation's deadline (http_request)
    ADDRESS_REFUSED = -10  # an allowed host resolved to an address calls may not reach
    BUSY = -11  # the lock is held by another holder
    CLOSED = -12  # the WebSocket connection is closed (its close was already read)


class Arg(enum.Enum):
    """How a guest argument arrives, and the wasm parameters it takes (after the tag)."""

    I32 = ("i32", "i32")  # a plain integer
    STR = ("str", "i32", "i32")  # (pointer, length) of UTF-8 text
    BYTES = ("bytes", "i32", "i32")  # (pointer, length) of bytes
    # (pointer, length) of bytes that may be large: checked against memory, not copied; the
    # handler checks the length against its limit before it reads them (``Call.read``).
    SIZED = ("sized", "i32", "i32")
    OUT = ("out", "i32", "i32")  # (pointer, capacity) of a guest buffer the host writes into

    def __init__(self, tag: str, *params: str) -> None:
        self.params = params


class Returns(enum.Enum):
    """What a host call returns to the guest (the wasm results follow the tag)."""

    NOTHING = ("nothing",)
    STATUS = ("status", "i32")  # 0, or a negative ErrorCode
    DATA = ("data", "i64")  # a result length for result_read, or a negative ErrorCode
    COUNT = ("count", "i32")  # bytes copied, or a negative ErrorCode
    LENGTH = ("length", "i64")  # Gojinn: bytes written, -1 for "no value"
    LENGTH32 = ("length32", "i32")  # Gojinn's successor: the same as an i32
    FLAG = ("flag", "i32")  # Gojinn: 0 on success, 1 on any error
    COPIED = ("copied", "i32")  # Gojinn: bytes copied into the out buffer, 0 on any error
    # Gojinn's host_db_query: bytes copied into the out buffer; an error is written there too,
    # as the JSON [{"error": "..."}].
    ROWS = ("rows", "i32")
    # Gojinn's host_ask_ai: bytes copied into the out buffer; an error is written there too, as
    # the JSON {"error": "..."}.
    ANSWER = ("answer", "i64")
    # Gojinn's host_http_get: bytes of the answer's body copied into the out buffer, 0 on any
    # error (as for an empty body).
    BODY = ("body", "i64")
    # Gojinn's host_mutex_lock, host_mutex_unlock and host_ws_upgrade: 1 on success, 0 on any
    # failure.
    SUCCEEDED = ("succeeded", "i32")
    # Gojinn's host_ws_read: bytes of the next message copied into the out buffer, 0 when the
    # connection has closed or on any error.
    MESSAGE = ("message", "i64")

    def __init__(self, tag: str, *results: str) -> None:
        self.results = results


@dataclass(frozen=True)
class HostFunction:
    """One importable host function."""

    module: str
    name: str
    args: tuple[tuple[str, Arg], ...]
    returns: Returns
    capability: str  # which capability serves it
    # The permissions line that allows it: kv_read, kv_write, db read (which db write includes),
    # db write, blob_read, blob_write, jobs_enqueue, ai, http, lock or websocket; "" for the core
    # functions, which every function has.
    grant: str
    summary: str

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(param for _, kind in self.args for param in kind.params)

    @property
    def results(self) -> tuple[str, ...]:
        return self.returns.results

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


def _pyjinn(
    name: str,
    args: tuple[tuple[str, Arg], ...],
    returns: Returns,
    capability: str,
    grant: str,
    summary: str,
) -> HostFunction:
    return HostFunction(PYJINN, name, args, returns, capability, grant, summary)


FUNCTIONS: tuple[HostFunction, ...] = (
    _pyjinn(
        "log",
        (("level", Arg.I32), ("message", Arg.BYTES)),
        Returns.NOTHING,
        "core",
        "",
        "Write a log record: level 0 debug, 1 info, 2 warn, 3 error. At most 4096 bytes of a "
        "message are logged (a longer one is cut, and the record says so); invalid UTF-8 is "
        "replaced.",
    ),
    _pyjinn(
        "result_read",
        (("buffer", Arg.OUT),),
        Returns.COUNT,
        "core",
        "",
        "Copy the pending result into the buffer and release it; returns the bytes copied. "
        "A buffer shorter than the result is INVALID and keeps the result pending.",
    ),
    _pyjinn(
        "error_read",
        (("buffer", Arg.OUT),),
        Returns.COUNT,
        "core",
        "",
        "Copy the last error's message (UTF-8) into the buffer; with capacity 0, return its "
        "length. Returns the bytes copied.",
    ),
    _pyjinn(
        "kv_get",
        (("key", Arg.STR),),
        Returns.DATA,
        "kv",
        "kv_read",
        "Read a key: the value's length (then result_read), or NOT_FOUND.",
    ),
    _pyjinn(
        "kv_set",
        (("key", Arg.STR), ("value", Arg.BYTES)),
        Returns.STATUS,
        "kv",
        "kv_write",
        "Write a key.",
    ),
    _pyjinn(
        "kv_delete",
        (("key", Arg.STR),),
        Returns.STATUS,
        "kv",
        "kv_write",
        "Delete a key; deleting a missing key is not an error.",
    ),
    _pyjinn(
        "kv_list",
        (("prefix", Arg.STR),),
        Returns.DATA,
        "kv",
        "kv_read",
        "List the readable keys that start with the prefix: a JSON array of strings.",
    ),
    _pyjinn(
        "db_query",
        (("sql", Arg.STR), ("params", Arg.BYTES)),
        Returns.DATA,
        "db",
        "db read",
        "Run one SQL statement with params (a JSON array, bound, never formatted into the SQL; "
        'empty for none): JSON {"columns": [...], "rows": [[...], ...]}.',
    ),
    _pyjinn(
        "db_exec",
        (("sql", Arg.STR), ("params", Arg.BYTES)),
        Returns.DATA,
        "db",
        "db write",
        'Run one SQL statement that changes data: JSON {"rows_affected": N, '
        '"last_insert_id": N or null}.',
    ),
    _pyjinn(
        "blob_put",
        (("key", Arg.STR), ("data", Arg.SIZED)),
        Returns.STATUS,
        "blob",
        "blob_write",
        "Store an object (at most blob_max_size bytes), replacing any object of that key.",
    ),
    _pyjinn(
        "blob_get",
        (("key", Arg.STR),),
        Returns.DATA,
        "blob",
        "blob_read",
        "Read an object: its length (then result_read), or NOT_FOUND.",
    ),
    _pyjinn(
        "blob_delete",
        (("key", Arg.STR),),
        Returns.STATUS,
        "blob",
        "blob_write",
        "Delete an object; deleting a missing object is not an error.",
    ),
    _pyjinn(
        "blob_list",
        (("prefix", Arg.STR),),
        Returns.DATA,
        "blob",
        "blob_read",
        'List the readable objects whose keys start with the prefix: a JSON array of {"key", '
        '"size"}.',
    ),
    _pyjinn(
        "job_enqueue",
        (("function", Arg.STR), ("payload", Arg.SIZED), ("idempotency_key", Arg.STR)),
        Returns.DATA,
        "jobs",
        "jobs_enqueue",
        "Enqueue a job of another function (granted by jobs_enqueue) for the caller's tenant, "
        "its payload the job's request body (at most the function's max_body): the job id "
        "(then result_read). A non-empty idempotency key makes the same key one job.",
    ),
    _pyjinn(
        "ai_chat",
        (("request", Arg.BYTES),),
        Returns.DATA,
        "ai",
        "ai",
        'Ask the configured model: an OpenAI-style chat request as JSON ({"messages": [...], '
        '"max_tokens", "temperature", "response_format"}); JSON {"text", "finish_reason", '
        '"model", "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}, "cached"}.',
    ),
    _pyjinn(
        "ai_embed",
        (("texts", Arg.BYTES),),
        Returns.DATA,
        "ai",
        "ai",
        "Embed texts with the local model: a JSON string or array of strings in; JSON "
        '{"model", "dimensions", "embeddings": [[...], ...]} (unit vectors) out.',
    ),
    _pyjinn(
        "http_request",
        (
            ("method", Arg.STR),
            ("url", Arg.STR),
            ("headers", Arg.BYTES),
            ("body", Arg.SIZED),
        ),
        Returns.DATA,
        "http",
        "http",
        "Send an HTTP request to a host allow_host lists (headers a JSON object of names to a "
        "string or an array of strings, empty for none; body at most 8 MiB): a JSON line "
        '{"status", "headers": {"name": ["value", ...]}}, a newline, then the body\'s bytes.',
    ),
    _pyjinn(
        "lock_acquire",
        (("name", Arg.STR), ("ttl_seconds", Arg.I32), ("wait_ms", Arg.I32)),
        Returns.DATA,
        "lock",
        "lock",
        "Take the tenant's lock of that name for at most ttl_seconds (1 to 86400), waiting up "
        "to wait_ms for its holder to let go: the holder's token (then result_read), or BUSY. "
        "Locks the invocation still holds are released when it ends.",
    ),
    _pyjinn(
        "lock_release",
        (("name", Arg.STR), ("token", Arg.STR)),
        Returns.STATUS,
        "lock",
        "lock",
        "Release a lock, given the token lock_acquire returned: DENIED for another holder's "
        "lock, NOT_FOUND for a lock no longer held (its TTL ran out).",
    ),
    _pyjinn(
        "ws_upgrade",
        (),
        Returns.STATUS,
        "websocket",
        "websocket",
        "Accept the WebSocket handshake of the request being served: from now on the invocation "
        "holds the connection, timeout is its idle timeout and max_duration bounds it. INVALID "
        "when the request is not a WebSocket upgrade or was upgraded already; CLOSED when the "
        "client has left.",
    ),
    _pyjinn(
        "ws_read",
        (("wait_ms", Arg.I32),),
        Returns.DATA,
        "websocket",
        "websocket",
        "Wait up to wait_ms (negative: until the idle timeout) for the next message: its "
        "opcode byte (1 text, 2 binary, 8 close) then its payload (a close's is its 2-byte "
        "code, big-endian, and reason); NOT_FOUND when none came in time. The close comes once, "
        "when the connection ends (the client closed it, the idle timeout or max_duration "
        "passed, the host gave up on the client); CLOSED after it.",
    ),
    _pyjinn(
        "ws_write",
        (("opcode", Arg.I32), ("data", Arg.SIZED)),
        Returns.STATUS,
        "websocket",
        "websocket",
        "Send a message: opcode 1 (text, UTF-8) or 2 (binary), at most max_message bytes. Waits "
        "while the client is behind (the send queue is full); LIMIT for a message too large, or "
        "when the client read nothing until the idle timeout was near (the connection is then "
        "closed with 1008); CLOSED when the connection is closed.",
    ),
    _pyjinn(
        "ws_close",
        (("code", Arg.I32), ("reason", Arg.STR)),
        Returns.STATUS,
        "websocket",
        "websocket",
        "Close the connection with a code (1000, or 3000 to 4999) and a reason of at most 123 "
        "bytes, after the messages sent before; CLOSED when it is closed already.",
    ),
    HostFunction(
        GOJINN,
        "host_log",
        (("level", Arg.I32), ("message", Arg.BYTES)),
        Returns.NOTHING,
        "core",
        "",
        "Gojinn: write a log record (3 is error, anything else info).",
    ),
    HostFunction(
        GOJINN,
        "host_kv_set",
        (("key", Arg.STR), ("value", Arg.BYTES)),
        Returns.NOTHING,
        "kv",
        "kv_write",
        "Gojinn: write a key; failures are logged, not reported to the guest.",
    ),
    HostFunction(
        GOJINN,
        "host_kv_get",
        (("key", Arg.STR), ("out", Arg.OUT)),
        Returns.LENGTH,
        "kv",
        "kv_read",
        "Gojinn v1.0: copy up to out_max bytes of a key's value; -1 when missing or denied.",
    ),
    HostFunction(
        GOJINN,
        "host_db_query",
        (("query", Arg.STR), ("out", Arg.OUT)),
        Returns.ROWS,
        "db",
        "db read",
        'Gojinn: run raw SQL and copy up to out_max bytes of its rows as JSON [{"column": '
        'value}, ...]; errors as [{"error": "..."}].',
    ),
    HostFunction(
        GOJINN,
        "host_s3_put",
        (("key", Arg.STR), ("data", Arg.SIZED)),
        Returns.FLAG,
        "blob",
        "blob_write",
        "Gojinn: store an object; 0 on success, 1 on any error.",
    ),
    HostFunction(
        GOJINN,
        "host_s3_get",
        (("key", Arg.STR), ("out", Arg.OUT)),
        Returns.COPIED,
        "blob",
        "blob_read",
        "Gojinn: copy up to out_max bytes of an object; 0 on any error (as for an empty one).",
    ),
    HostFunction(
        GOJINN,
        "host_enqueue",
        (("file", Arg.STR), ("payload", Arg.SIZED)),
        Returns.FLAG,
        "jobs",
        "jobs_enqueue",
        "Gojinn: enqueue a job of the function whose module file (or name) is given; 0 when "
        "it is stored, 1 on any error.",
    ),
    HostFunction(
        GOJINN,
        "host_ask_ai",
        (("prompt", Arg.STR), ("out", Arg.OUT)),
        Returns.ANSWER,
        "ai",
        "ai",
        "Gojinn: ask the configured model one prompt and copy up to out_max bytes of the answer's "
        'text; errors as {"error": "..."}.',
    ),
    HostFunction(
        GOJINN,
        "host_http_get",
        (("url", Arg.STR), ("out", Arg.OUT)),
        Returns.BODY,
        "http",
        "http",
        "Gojinn: GET a URL allow_host allows and copy up to out_max bytes of the answer's body "
        "(whatever its status); 0 on any error.",
    ),
    HostFunction(
        GOJINN,
        "host_mutex_lock",
        (("key", Arg.STR), ("ttl_seconds", Arg.I32)),
        Returns.SUCCEEDED,
        "lock",
        "lock",
        "Gojinn: take the tenant's lock of that name for ttl_seconds without waiting; 1 when "
        "taken, 0 when held by another or on any error.",
    ),
    HostFunction(
        GOJINN,
        "host_mutex_unlock",
        (("key", Arg.STR),),
        Returns.SUCCEEDED,
        "lock",
        "lock",
        "Gojinn: release a lock this invocation holds; 1 when released, 0 otherwise.",
    ),
    HostFunction(
        GOJINN,
        "host_ws_upgrade",
        (),
        Returns.SUCCEEDED,
        "websocket",
        "websocket",
        "Gojinn: accept the WebSocket handshake (as ws_upgrade); 1 on success, 0 on any error.",
    ),
    HostFunction(
        GOJINN,
        "host_ws_read",
        (("out", Arg.OUT),),
        Returns.MESSAGE,
        "websocket",
        "websocket",
        "Gojinn: wait for the next message (until the idle timeout) and copy it into the out "
        "buffer; its length, or 0 once the connection has closed. A message longer than out_max "
        "closes the connection with 1009 (and reads 0) rather than arriving cut.",
    ),
    HostFunction(
        GOJINN,
        "host_ws_write",
        (("message", Arg.SIZED),),
        Returns.NOTHING,
        "websocket",
        "websocket",
        "Gojinn: send a text message (as ws_write with opcode 1); failures are logged, and a "
        "closed connection reads 0 next.",
    ),
)

# Functions whose result type differs between Gojinn releases: the variant a module gets is the
# one whose signature matches its import.
VARIANTS: tuple[HostFunction, ...] = (
    HostFunction(
        GOJINN,
        "host_kv_get",
        (("key", Arg.STR), ("out", Arg.OUT)),
        Returns.LENGTH32,
        "kv",
        "kv_read",
        "Gojinn's successor: the same with an i32 result.",
    ),
)

BY_NAME: dict[tuple[str, str], HostFunction] = {(f.module, f.name): f for f in FUNCTIONS}
# The grant each host function needs, by name (names are unique across both modules).
GRANTS: dict[str, str] = {f.name: f.grant for f in (*FUNCTIONS, *VARIANTS)}
