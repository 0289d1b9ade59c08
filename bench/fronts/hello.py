"""The Python ceiling: a bare ASGI app answering "hello", on pyjinn's uvicorn configuration.

Usage: ``python -m bench.fronts.hello PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.fronts import lifespan, listen
from pyjinn.server.http import serve_http

BODY = b"hello"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    serve_http(app, [listen(int(sys.argv[1]))], grace=1.0)
