"""What the ASGI applications of this package share: the scope type, reading a header, and the
extension pyjinn's HTTP server marks a timed-out request with."""

from __future__ import annotations

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
