"""The WebSocket trigger: a handshake runs its route's function, which may take the connection over.

A WebSocket handshake (an ASGI ``websocket`` scope) is served like an HTTP request to the same
route: API key, debug secret, the envelope on stdin (``GET``, the handshake's headers, no body),
a slot, a fresh sandbox. Before the function runs, a browser's ``Origin`` must be one the
function allows (``ws_origin``, else ``cors_origin``); any other is answered 403.

A function that calls ``ws_upgrade`` holds the connection (``pyjinn.websocket.Connection``) and
its sandbox until it returns; the connection then closes with 1000, or with 1011 when the
function failed (a trap, a limit), while the server goes on serving. A function that does not
upgrade answers over HTTP as usual (its response, or the error's short JSON), through the ASGI
``websocket.http.response`` extension where the server has it, else as a refused handshake.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from pyjinn.config.cors import normalize_origin
from pyjinn.config.model import FunctionSpec
from pyjinn.errors import InvocationError, RequestRejected
from pyjinn.invocation import Envelope, Invocation
from pyjinn.runtime import Function, Runtime
from pyjinn.server.asgi import Scope, header
from pyjinn.websocket import Connection

log = logging.getLogger("pyjinn.server")

Receive = Any
Send = Any

_RESPONSE_EXTENSION = "websocket.http.response"


def allowed_origins(spec: FunctionSpec) -> tuple[str, ...]:
    """The browser origins that may open a connection to ``spec``'s function (none: any): its
    ``ws_origin``, else its ``cors_origin`` (the pages that may read its answers may talk to
    it too)."""
    if spec.websocket.origins:
        return spec.websocket.origins
    return spec.cors.origins if spec.cors is not None else ()


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Whether a handshake with ``origin`` (its ``Origin`` header) may go on: always when
    ``allowed`` is empty; else without an Origin (not a browser), or from an origin of
    ``allowed`` (compared as ``normalize_origin`` spells them; ``*`` allows every one)."""
    if not allowed or origin is None or "*" in allowed:
        return True
    try:
        return normalize_origin(origin.strip()) in allowed
    except ValueError:
        return False  # "null" (a sandboxed page, a file), or not an origin at all


async def serve(
    runtime: Runtime,
    function: Function,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    uri: str,
    path: str,
    target: str,
    remote_addr: str,
) -> None:
    """Serve one handshake with ``function`` (see the module)."""
    event = await receive()
    if event["type"] != "websocket.connect":
        return  # the client left before its handshake reached the app
    invocation = Invocation(
        function,
        trigger="websocket",
        method="GET",
        target=target,
        traceparent=header(scope, b"traceparent"),
    )
    spec = function.spec
    tenant = ""
    try:
        resolved, headers = function.tenants.resolve(scope["headers"])
        if function.debug_secret is not None:
            invocation.debug, headers = function.debug_secret.check(headers)
        if resolved is None:
            raise RequestRejected(
                401,
                "unauthorized",
                "missing or invalid API key",
                "WebSocket handshake without a valid API key (Authorization: Bearer or X-API-Key)",
            )
        tenant = resolved
        origin = header(scope, b"origin")
        if not origin_allowed(origin, allowed_origins(spec)):
            raise RequestRejected(
                403,
                "origin_refused",
                "origin not allowed",
                f"WebSocket handshake from origin {(origin or '')[:200]!r}, which ws_origin does "
                "not list",
            )
        envelope = Envelope(
            method="GET",
            uri=uri,
            path=path,
            query_string=scope.get("query_string", b""),
            headers=headers,
            remote_addr=remote_addr,
        )
    except InvocationError as error:
        outcome = invocation.refuse(error, tenant)
    else:
        connection = Connection(
            asyncio.get_running_loop(),
            receive,
            send,
            function=function.name,
            idle_timeout=spec.limits.timeout,
            max_duration=spec.websocket.max_duration,
            max_message=spec.websocket.max_message,
        )
        outcome = await invocation.run(runtime, envelope, tenant, connection=connection)
        if connection.upgraded:
            ended = outcome.error
            await connection.finish(ended.client_message if ended is not None else None)
            return
    failure = outcome.error
    if failure is not None:
        if failure.status == 499:
            return
        headers_out = [(b"content-type", b"application/json"), *outcome.headers]
        if isinstance(failure, RequestRejected) and failure.retry_after is not None:
            headers_out.append((b"retry-after", str(failure.retry_after).encode()))
        document = {"error": failure.client_message, "trace_id": outcome.trace_id}
        await answer(scope, send, failure.status, headers_out, json.dumps(document).encode())
    else:
        assert outcome.response is not None
        response = outcome.response
        await answer(scope, send, response.status, [*response.headers, *outcome.headers],
                      response.body)  # fmt: skip


async def answer(
    scope: Scope, send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """Answer a handshake over HTTP (the function did not take the connection over)."""
    try:
        if _RESPONSE_EXTENSION in scope.get("extensions", {}):
            headers = [*headers, (b"content-length", str(len(body)).encode())]
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": headers})  # fmt: skip
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})
    except Exception as error:  # the client left meanwhile (uvicorn: ClientDisconnected)
        log.debug("Could not answer a WebSocket handshake: %r.", error)
