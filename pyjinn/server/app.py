"""The ASGI application: HTTP requests in, function invocations, HTTP responses out.

Usable under any ASGI server, and mountable inside a Starlette or FastAPI app::

    from pyjinn.server.app import create_app
    app = create_app("Caddyfile")          # uvicorn module:app [--workers N]

    functions = create_app("Caddyfile")    # or inside FastAPI / Starlette:
    api = FastAPI(lifespan=functions.lifespan)
    api.mount("/functions", functions)

Every failure is answered with a short JSON body ``{"error": ..., "trace_id": ...}`` and logged
with its blame; the server keeps serving. The HTTP trigger only turns a request into an
envelope and an outcome into a response: running, classifying and accounting for the
invocation is ``pyjinn.invocation``'s, shared by every trigger.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pyjinn.config.model import Config, FunctionSpec, Respond
from pyjinn.errors import InvocationError, ModuleErrors, PyjinnError, RequestRejected
from pyjinn.invocation import Envelope, Invocation
from pyjinn.observability import tracing
from pyjinn.observability.metrics import install_collector
from pyjinn.release import ModulesReadOnce
from pyjinn.runtime import Function, Runtime
from pyjinn.server import jobs_http
from pyjinn.server.asgi import READ_TIMEOUT_EXTENSION, Scope, header
from pyjinn.server.routing import Router
from pyjinn.services import Services, start_services

log = logging.getLogger("pyjinn.server")

Receive = Any
Send = Any

_JSON = [(b"content-type", b"application/json")]


class PyjinnApp:
    """An ASGI app serving the sites of one config through one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.router = Router(runtime.config)
        self._retired: set[Runtime] = set()
        self.on_startup: list[Any] = []  # callables run at lifespan startup, in the loop
        self.on_close: list[Any] = []  # what close() releases besides the runtime
        # create_app's: connects the services and swaps in the serving runtime, once.
        self._connect: Any = None
        self._connecting: asyncio.Lock | None = None

    async def connect(self) -> None:
        """Start what ``create_app`` deferred to the serving process (its services, and the
        runtime on them); idempotent. Lifespan startup calls it, and so does the first
        request where nothing runs the lifespan (an app mounted without it)."""
        if self._connect is None:
            return
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._connect is not None:
                connect, self._connect = self._connect, None
                self.replace(await asyncio.get_running_loop().run_in_executor(None, connect))

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        """This app's startup and shutdown, for a host app that mounts it: Starlette and
        FastAPI do not pass lifespan events to mounted apps, so give them this
        (``FastAPI(lifespan=functions.lifespan)``)."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    async def startup(self) -> None:
        await self.connect()
        self.runtime.start()
        for callback in self.on_startup:
            callback()
        jobs = self.runtime.services.jobs
        if jobs is not None:
            await jobs.start(lambda: self.runtime)

    async def shutdown(self) -> None:
        jobs = self.runtime.services.jobs
        if jobs is not None:
            await jobs.stop()
        if self.on_close:  # an app made by create_app: it owns its services
            self.close()

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
                try:
                    await self.startup()
                except PyjinnError as error:
                    log.error("pyjinn cannot start: %s", error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._connect is not None:
            await self.connect()
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
            match = router.match(site, path) if site is not None else None
            if match is None:
                await _send_json(send, 404, {"error": "no route for this path"})
            elif isinstance(match.handler, Respond):
                await _send(send, match.handler.status, [], match.handler.body.encode())
            else:
                assert isinstance(match.handler, FunctionSpec)
                function = runtime.functions[match.handler.name]
                await self._invoke(runtime, function, scope, receive, send, match.path, path)
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
        routed_path: str,
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
                uri=_request_uri(scope, routed_path, full_path),
                path=routed_path,
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
                await _send(send, 202, [*queued.headers, *extra], queued.body)
                return
        except InvocationError as error:
            outcome = invocation.refuse(error, tenant)
        else:
            outcome = await invocation.run(runtime, envelope, tenant)
        if outcome.error is not None:
            await _send_error(send, outcome.error, outcome.trace_id, outcome.headers)
        else:
            assert outcome.response is not None
            response = outcome.response
            await _send(send, response.status, [*response.headers, *outcome.headers], response.body)


def create_app(source: str | Path | Config, *, services: Services | None = None) -> PyjinnApp:
    """An ASGI app for a Caddyfile path (or an already loaded ``Config``), with every module
    compiled and checked now. Raises ``ConfigErrors`` or ``ModuleErrors`` listing every
    problem found.

    Without ``services``, nothing is started until the app serves (ASGI lifespan startup,
    or its first request): then it connects to the NATS server the config names, or to the
    embedded one under ``data_dir/nats``, which the first process to get there starts and
    the others share (several workers of one ASGI server); ``close()`` (or the lifespan
    shutdown) stops what this process started."""
    from pyjinn.config import load

    config = source if isinstance(source, Config) else load(Path(source))
    modules = ModulesReadOnce()
    checked = Runtime(config, services=services or Services(), modules=modules)
    observe_embedded(config)
    problems = checked.load_all()
    if problems:
        checked.close()
        raise ModuleErrors(problems)
    app = PyjinnApp(checked)
    app.on_close.append(tracing.shutdown)
    if services is None:
        app._connect = functools.partial(_connect_services, app, config, checked, modules)
    return app


def _connect_services(
    app: PyjinnApp, config: Config, checked: Runtime, modules: ModulesReadOnce
) -> Runtime:
    """The serving runtime of a ``create_app`` app: on its services, with the modules
    ``create_app`` checked and compiled."""
    services, embedded = start_services(config, shared=True)
    app.on_close.append(services.close)
    if embedded is not None:
        app.on_close.append(embedded.stop)
    return Runtime(config, loader=checked.loader, services=services, modules=modules)


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


def _request_uri(scope: Scope, routed_path: str, full_path: str) -> str:
    query = scope.get("query_string", b"")
    if routed_path == full_path and scope.get("raw_path") and not scope.get("root_path"):
        target = scope["raw_path"].decode("latin-1")
    else:
        target = quote(routed_path, safe="/%:@!$&'()*+,;=-._~")
    return f"{target}?{query.decode('latin-1')}" if query else target


def observe_embedded(config: Config) -> None:
    """Metrics and tracing for an app that runs without ``pyjinn up``: metrics on
    prometheus-client's default registry, tracing as the config and environment say."""
    install_collector()
    tracing.configure(config.options.tracing)


async def _send_error(
    send: Send, error: InvocationError, trace_id: str, extra: list[tuple[bytes, bytes]]
) -> None:
    if error.status == 499:
        return  # nobody is listening
    headers = [*_JSON, *extra]
    if isinstance(error, RequestRejected) and error.retry_after is not None:
        headers.append((b"retry-after", str(error.retry_after).encode()))
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="pyjinn"'))
    body = json.dumps({"error": error.client_message, "trace_id": trace_id}).encode()
    await _send(send, error.status, headers, body)


async def _send_json(send: Send, status: int, document: dict[str, Any]) -> None:
    await _send(send, status, list(_JSON), json.dumps(document).encode())


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
