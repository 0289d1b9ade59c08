"""What the ASGI applications of this package share: the scope type, reading a header,
answering with a whole body, and the extensions pyjinn's HTTP server adds to a request's scope."""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]

# Set (to an empty dict) in a request's ``extensions`` by pyjinn's HTTP server when it closed the
# connection because the client stopped sending the body: the app then records a 408, not a
# client that went away.
READ_TIMEOUT_EXTENSION = "pyjinn.read_timeout"
# Set by pyjinn's HTTP server to an object with ``hold()`` and ``release()``: between the two,
# what the response writes is gathered and then sent in one write, so an answer sent whole
# leaves as one system call and one TCP segment, not its head and its body apart.
ONE_WRITE_EXTENSION = "pyjinn.one_write"
_NONE: dict[str, Any] = {}  # a scope without extensions


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower-case bytes, as ASGI gives names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


async def send_whole(
    scope: Scope, send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Answer with ``body`` whole: ``headers`` (Content-Length is added), then the body, in one
    write where the server offers it."""
    headers.append((b"content-length", str(len(body)).encode()))
    writes = scope.get("extensions", _NONE).get(ONE_WRITE_EXTENSION)
    if writes is not None:
        writes.hold()
    try:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    finally:
        if writes is not None:
            writes.release()


async def send_body(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    """Answer with ``body`` whole, of type ``content_type`` (in two writes: for answers off the
    request path, which have no scope at hand)."""
    await send_whole(_NONE, send, status, [(b"content-type", content_type)], body)


async def send_json(
    send: Any, status: int, document: dict[str, Any], *, indent: int | None = None
) -> None:
    """Answer with ``document`` as JSON (indented for people reading the admin API)."""
    await send_body(send, status, b"application/json", json.dumps(document, indent=indent).encode())
