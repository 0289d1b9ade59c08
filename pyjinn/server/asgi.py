"""What the ASGI applications of this package share: the scope type, reading a header,
answering with a whole body, and the extension pyjinn's HTTP server marks a timed-out request
with."""

from __future__ import annotations

import json
from typing import Any

Scope = dict[str, Any]

# Set (to an empty dict) in a request's ``extensions`` by pyjinn's HTTP server when it closed the
# connection because the client stopped sending the body: the app then records a 408, not a
# client that went away.
READ_TIMEOUT_EXTENSION = "pyjinn.read_timeout"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower-case bytes, as ASGI gives names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


async def send_body(send: Any, status: int, content_type: bytes, body: bytes) -> None:
    """Answer with ``body`` whole: its type and length, then the body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Any, status: int, document: dict[str, Any], *, indent: int | None = None
) -> None:
    """Answer with ``document`` as JSON (indented for people reading the admin API)."""
    await send_body(send, status, b"application/json", json.dumps(document, indent=indent).encode())
