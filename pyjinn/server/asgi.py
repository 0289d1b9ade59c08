"""What the ASGI applications of this package share: the scope type and reading a header."""

from __future__ import annotations

from typing import Any

Scope = dict[str, Any]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower-case bytes, as ASGI gives names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
