"""Servers the HTTP benchmark compares pyjinn with, run in the same server configuration.

Each module is started as ``python -m bench.fronts.NAME PORT [...]`` and serves on 127.0.0.1
through ``pyjinn.server.http.serve_http``, the exact uvicorn setup (uvloop, httptools, one
process) of a ``pyjinn up`` worker, so only what happens per request differs.
"""

from __future__ import annotations

import socket
from typing import Any


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``, as pyjinn's supervisor binds them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


async def lifespan(receive: Any, send: Any) -> None:
    """Answer an ASGI lifespan scope: start up, then shut down when told."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
