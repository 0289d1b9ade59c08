"""The ASGI application: HTTP requests in, function invocations, HTTP responses out.

Usable under any ASGI server, and mountable inside a Starlette or FastAPI app::

    from pyjinn.server.app import create_app
    app = create_app("Caddyfile")          # uvicorn module:app, or app.mount("/fn", app)

Every failure is answered with a short JSON body ``{"error": ..., "trace_id": ...}`` and logged
with its blame; the server keeps serving. The HTTP trigger only turns a request into an
envelope and an outcome into a response: running, classifying and accounting for the
invocation is ``pyjinn.invocation``'s, shared by every trigger.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pyjinn.config.model import Config, FunctionSpec, Respond
from pyjinn.errors import InvocationError, ModuleErrors, RequestRejected
from pyjinn.invocation import Envelope, Invocation
from pyjinn.observability import tracing
from pyjinn.observability.metrics import install_collector
from pyjinn.runtime import Function, Runtime
from pyjinn.server import answers, jobs_http
from pyjinn.server.asgi import READ_TIMEOUT_EXTENSION, Scope, header
from pyjinn.server.routing import Match, Router
from pyjinn.services import Services, start_services

log = logging.getLogger("pyjinn.server")

Receive = Any
Send = Any

_JSON = [(b"content-type", b"application/json")]
_NO_ROUTE = json.dumps({"error": "no route for this path"}).encode()


class PyjinnApp:
    """An ASGI app serving the sites of one config through one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.router = Router(runtime.config)
        self._retired: set[Runtime] = set()
        self.on_startup: list[Any] = []  # callables run at lifespan startup, in the loop
        self.on_close: list[Any] = []  # what close() releases besides the runtime

    def close(self) -> None:
        """Close the runtime and whatever the app started for itself (an embedded NATS)."""
        self.runtime.close()
        for release in reversed(self.on_close):
            release()
        self.on_close.clear()

    def replace(self, runtime: Runtime) -> None:
        """Serve new requests with ``runtime``; the old one finishes what it started, then
        closes (on a thread, since closing waits for its guest threads)."""
        previous = self.runtime
        runtime.replaces(previous)
        self.runtime, self.router = runtime, Router(runtime.config)
        self._retired.add(previous)
        self._close_idle_retired()
        jobs = runtime.services.jobs
        if jobs is not None:
            jobs.reloaded(runtime)

    def _close_idle_retired(self) -> None:
        for runtime in [r for r in self._retired if r.active == 0]:
            self._retired.discard(runtime)
            threading.Thread(target=runtime.close, name="pyjinn-retire", daemon=True).start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # Other protocols (websocket) are not served: returning closes them.

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.runtime.start()
                for callback in self.on_startup:
                    callback()
                jobs = self.runtime.services.jobs
                if jobs is not None:
                    await jobs.start(lambda: self.runtime)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                jobs = self.runtime.services.jobs
                if jobs is not None:
                    await jobs.stop()
                if self.on_close:  # an app made by create_app: it owns its services
                    self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # One runtime serves the whole request, even if a reload swaps in another meanwhile.
        runtime, router = self.runtime, self.router
        runtime.active += 1
        try:
            path = scope["path"]
            root_path = scope.get("root_path", "")
            if root_path and path.startswith(root_path):
                path = path[len(root_path) :] or "/"
            if path.startswith(jobs_http.STATUS_PREFIX):
                await jobs_http.send_status(runtime, scope, send, path)
                return
            server = scope.get("server")
            site = router.site_for(server[1] if server else None, header(scope, b"host"))
            if site is None:
                await _send_json(send, 404, {"error": "no route for this path"})
                return
            match = router.match(site, path)
            handler = match.handler
            if isinstance(handler, FunctionSpec):
                function = runtime.functions[handler.name]
                await self._invoke(runtime, function, scope, receive, send, match, path)
                return
            respond = handler if isinstance(handler, Respond) else None
            info = None
            if answers.needs_request(match.headers, respond):
                info = answers.request_info(scope, match.request_path.decoded, _uri(scope, match))
            if respond is None:
                body, status, own = _NO_ROUTE, 404, list(_JSON)
            else:
                body, own = answers.respond_body(respond, info)
                status = respond.status
            await _send(send, status, answers.with_rules(match.headers, own, info), body)
        finally:
            runtime.active -= 1
            if self._retired:
                self._close_idle_retired()

    async def _invoke(
        self,
        runtime: Runtime,
        function: Function,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match,
        full_path: str,
    ) -> None:
        method: str = scope["method"]
        invocation = Invocation(
            function,
            trigger="http",
            method=method,
            target=full_path,
            traceparent=header(scope, b"traceparent"),
        )
        tenant = ""
        uri = _uri(scope, match)
        try:
            resolved, headers = function.tenants.resolve(scope["headers"])
            if function.debug_secret is not None:
                invocation.debug, headers = function.debug_secret.check(headers)
            if resolved is None:
                raise RequestRejected(
                    401,
                    "unauthorized",
                    "missing or invalid API key",
                    "request without a valid API key (Authorization: Bearer or X-API-Key)",
                )
            tenant = resolved
            body = await _read_body(scope, receive, function.spec.limits.max_body)
            envelope = Envelope(
                method=method,
                uri=uri,
                path=match.path,
                query_string=scope.get("query_string", b""),
                headers=headers,
                body=body,
                remote_addr=_remote_addr(scope),
            )
            if function.spec.jobs.always_async or jobs_http.asks_for_async(scope):
                queued = await jobs_http.enqueue(
                    runtime, function, scope, envelope, tenant, invocation.traceparent()
                )
                extra = invocation.queued(tenant)
                await self._answer(send, match, scope, 202, [*queued.headers, *extra], queued.body)
                return
        except InvocationError as error:
            outcome = invocation.refuse(error, tenant)
        else:
            outcome = await invocation.run(runtime, envelope, tenant)
        if outcome.error is not None:
            status, own, answer = _error_answer(outcome.error, outcome.trace_id, outcome.headers)
            if status is None:
                return  # nobody is listening
            await self._answer(send, match, scope, status, own, answer)
        else:
            assert outcome.response is not None
            response = outcome.response
            own = [*response.headers, *outcome.headers]
            await self._answer(send, match, scope, response.status, own, response.body)

    @staticmethod
    async def _answer(
        send: Send,
        match: Match,
        scope: Scope,
        status: int,
        own: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        """Send a function's answer with the ``header`` rules of its route applied."""
        if match.headers:
            info = None
            if answers.needs_request(match.headers, None):
                info = answers.request_info(scope, match.request_path.decoded, _uri(scope, match))
            own = answers.with_rules(match.headers, own, info)
        await _send(send, status, own, body)


def create_app(source: str | Path | Config, *, services: Services | None = None) -> PyjinnApp:
    """An ASGI app for a Caddyfile path (or an already loaded ``Config``), with every module
    loaded. Without ``services``, the app connects to the NATS server the config names, or
    starts an embedded one if a function needs key-value storage; ``close()`` (or the ASGI
    lifespan shutdown) stops it. Raises ``ConfigErrors`` or ``ModuleErrors`` listing every
    problem found."""
    from pyjinn.config import load

    config = source if isinstance(source, Config) else load(Path(source))
    releases = []
    if services is None:
        services, embedded = start_services(config)
        releases.append(services.close)
        if embedded is not None:
            releases.append(embedded.stop)
    runtime = Runtime(config, services=services)
    observe_embedded(config)
    problems = runtime.load_all()
    if problems:
        runtime.close()
        for release in reversed(releases):
            release()
        raise ModuleErrors(problems)
    app = PyjinnApp(runtime)
    app.on_close.extend(releases)
    app.on_close.append(tracing.shutdown)
    return app


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"declared Content-Length {declared}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if READ_TIMEOUT_EXTENSION in (scope.get("extensions") or ()):
                raise RequestRejected(
                    408,
                    "request_timeout",
                    "request body not received in time",
                    "the client stopped sending the request body (servers timeouts read_body)",
                )
            raise RequestRejected(499, "client_disconnected", "client disconnected")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, f"more than {limit} bytes received")
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _too_large(limit: int, what: str) -> RequestRejected:
    return RequestRejected(
        413,
        "body_too_large",
        f"request body exceeds {limit} bytes",
        f"request body too large: {what} (max_body {limit})",
    )


def _remote_addr(scope: Scope) -> str:
    client = scope.get("client")
    if not client:
        return ""
    host, port = client
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _uri(scope: Scope, match: Match) -> str:
    """The request target a handler sees: as the client sent it (raw, not cleaned), or, below a
    ``handle_path`` or a mount (``root_path``), the path it was given, with the query."""
    query = scope.get("query_string", b"")
    if not match.stripped and scope.get("raw_path") and not scope.get("root_path"):
        target = scope["raw_path"].decode("latin-1")
    else:
        target = quote(match.path, safe="/%:@!$&'()*+,;=-._~")
    return f"{target}?{query.decode('latin-1')}" if query else target


def observe_embedded(config: Config) -> None:
    """Metrics and tracing for an app that runs without ``pyjinn up``: metrics on
    prometheus-client's default registry, tracing as the config and environment say."""
    install_collector()
    tracing.configure(config.options.tracing)


def _error_answer(
    error: InvocationError, trace_id: str, extra: list[tuple[bytes, bytes]]
) -> tuple[int | None, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of the short JSON answer for ``error``; no status when the
    client is gone."""
    if error.status == 499:
        return None, [], b""
    headers = [*_JSON, *extra]
    if isinstance(error, RequestRejected) and error.retry_after is not None:
        headers.append((b"retry-after", str(error.retry_after).encode()))
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="pyjinn"'))
    body = json.dumps({"error": error.client_message, "trace_id": trace_id}).encode()
    return error.status, headers, body


async def _send_json(send: Send, status: int, document: dict[str, Any]) -> None:
    await _send(send, status, list(_JSON), json.dumps(document).encode())


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
