"""A stand-in OTLP/HTTP collector for the observability benchmark: accepts every export
(POST /v1/traces, /v1/metrics) with 200 and an empty protobuf answer, and keeps nothing.

Usage: ``python -m bench.fronts.otlp_sink PORT``.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.fronts import lifespan, listen
from pyjinn.server.http import serve_http

HEADERS = [(b"content-type", b"application/x-protobuf"), (b"content-length", b"0")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    serve_http(app, [listen(int(sys.argv[1]))], grace=1.0)
