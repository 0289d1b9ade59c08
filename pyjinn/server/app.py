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
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pyjinn.ai.routing import ROUTE_HEADER, Decision, request_text
from pyjinn.config.model import Config, Cors, FunctionSpec, MeaningRoute, Respond, Site
from pyjinn.errors import InvocationError, ModuleErrors, PyjinnError, RequestRejected
from pyjinn.invocation import Envelope, Invocation
from pyjinn.observability import tracing
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.observability.metrics import install_collector
from pyjinn.rate_limits import EXPOSED_HEADERS
from pyjinn.release import ModulesReadOnce
from pyjinn.runtime import Function, Runtime
from pyjinn.server import actors, answers, cors, jobs_http
from pyjinn.server.asgi import READ_TIMEOUT_EXTENSION, Scope, header, send_whole
from pyjinn.server.routing import Match, Router
from pyjinn.services import Services, start_services
from pyjinn.triggers.service import Triggers

if TYPE_CHECKING:
    from pyjinn.mcp.http import McpEndpoint

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
        # Each site's MCP endpoint, made on its first request; kept across reloads.
        self._mcp: dict[tuple[Any, ...], McpEndpoint] = {}
        self.triggers: Triggers | None = None  # cron, MQTT and NATS, once started
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
        self.triggers = Triggers(self.runtime.services)
        await self.triggers.start(lambda: self.runtime)

    async def shutdown(self) -> None:
        if self.triggers is not None:  # first: they feed the jobs
            await self.triggers.stop()
        jobs = self.runtime.services.jobs
        if jobs is not None:
            await jobs.stop()
        await self.aclose_endpoints()
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
        if self.triggers is not None:
            self.triggers.reloaded(runtime)

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
        elif kind == "websocket":
            await self._websocket(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake: served by its route's function (``pyjinn.server.actors``)."""
        runtime, router = self.runtime, self.router
        runtime.active += 1
        try:
            path = scope["path"]
            root_path = scope.get("root_path", "")
            if root_path and path.startswith(root_path):
                path = path[len(root_path) :] or "/"
            server = scope.get("server")
            site = router.site_for(server[1] if server else None, header(scope, b"host"))
            match = router.match(site, path) if site is not None else None
            handler = match.handler if match is not None else None
            if match is None or not isinstance(handler, FunctionSpec):
                # Only a function can take a connection over.
                await receive()  # websocket.connect
                await actors.answer(scope, send, 404, list(_JSON), _NO_ROUTE)
                return
            await actors.serve(
                runtime,
                runtime.functions[handler.name],
                scope,
                receive,
                send,
                uri=_uri(scope, match),
                path=match.path,
                target=path,
                remote_addr=_remote_addr(scope),
            )
        finally:
            runtime.active -= 1
            if self._retired:
                self._close_idle_retired()

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

    async def aclose_endpoints(self) -> None:
        """Stop what serves MCP (it runs in the event loop; ``close`` cannot wait for it)."""
        endpoints, self._mcp = list(self._mcp.values()), {}
        for endpoint in endpoints:
            await endpoint.aclose()

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
            if site is None:
                await _send_json(scope, send, 404, {"error": "no route for this path"})
                return
            if site.mcp_path is not None and path == site.mcp_path:
                await self._endpoint(site).handle(runtime, site, scope, receive, send)
                return
            match = router.match(site, path)
            handler = match.handler
            if isinstance(handler, FunctionSpec):
                if handler.cors is not None and cors.is_preflight(scope):
                    status, own, body = cors.preflight(handler.cors, handler.name, scope)
                    await self._answer(send, match, scope, status, own, body)
                    return
                function = runtime.functions[handler.name]
                await self._invoke(runtime, function, scope, receive, send, match, path)
                return
            if isinstance(handler, MeaningRoute):
                await self._route_by_meaning(runtime, handler, scope, receive, send, match, path)
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
            await send_whole(
                scope, send, status, answers.with_rules(match.headers, own, info), body
            )
        finally:
            runtime.active -= 1
            if self._retired:
                self._close_idle_retired()

    def _endpoint(self, site: Site) -> McpEndpoint:
        key = (site.addresses, site.mcp_path)
        endpoint = self._mcp.get(key)
        if endpoint is None:
            from pyjinn.mcp.http import McpEndpoint  # the SDK loads only for sites with tools

            endpoint = self._mcp[key] = McpEndpoint(site)
        return endpoint

    async def _route_by_meaning(
        self,
        runtime: Runtime,
        route: MeaningRoute,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match,
        full_path: str,
    ) -> None:
        """Read the request, choose its function by meaning, and invoke it (see
        ``pyjinn.ai.routing``)."""
        names = [target.function for target in route.targets]
        if route.fallback is not None:
            names.append(route.fallback)
        limit = max(runtime.functions[name].spec.limits.max_body for name in names)
        try:
            body = await _read_body(scope, receive, limit)
        except RequestRejected as error:
            status, own, answer = _error_answer(error, "", [])
            if status is not None:
                await self._answer(send, match, scope, status, own, answer)
            return
        router = runtime.meaning_router(route)
        text = request_text(route, body, scope.get("query_string", b""))
        # Embedding takes milliseconds of CPU: off the event loop.
        decision = await asyncio.to_thread(router.decide, text)
        METRICS.meaning_route(route.path, decision.function or "none")
        if decision.function is None:
            headers = [*_JSON, (ROUTE_HEADER, decision.describe().encode())]
            document = {"error": "no function matches what the request says"}
            await self._answer(send, match, scope, 404, headers, json.dumps(document).encode())
            return
        function = runtime.functions[decision.function]
        await self._invoke(
            runtime, function, scope, receive, send, match, full_path, body, decision
        )

    async def _invoke(
        self,
        runtime: Runtime,
        function: Function,
        scope: Scope,
        receive: Receive,
        send: Send,
        match: Match,
        full_path: str,
        body: bytes | None = None,
        decision: Decision | None = None,
    ) -> None:
        """Invoke ``function`` for the request; ``body`` when it was read already, and the
        ``decision`` that chose the function when a router did."""
        method: str = scope["method"]
        invocation = Invocation(
            function,
            trigger="http",
            method=method,
            target=full_path,
            traceparent=header(scope, b"traceparent"),
        )
        route_header: list[tuple[bytes, bytes]] = []
        if decision is not None:
            invocation.route = decision.describe()
            route_header.append((ROUTE_HEADER, invocation.route.encode()))
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
            invocation.admit(tenant)  # before the body is read: a refused client sends it in vain
            limit = function.spec.limits.max_body
            if body is None:
                body = await _read_body(scope, receive, limit)
            elif len(body) > limit:
                raise _too_large(limit, f"{len(body)} bytes received")
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
                own = [*queued.headers, *extra]
                policy, exposed = _cors_of(function, invocation)
                await self._answer(send, match, scope, 202, own, queued.body, policy, exposed)
                return
        except InvocationError as error:
            outcome = invocation.refuse(error, tenant)
        else:
            outcome = await invocation.run(runtime, envelope, tenant)
        extra = [*outcome.headers, *route_header]
        if outcome.error is not None:
            status, own, answer = _error_answer(outcome.error, outcome.trace_id, extra)
            if status is None:
                return  # nobody is listening
        else:
            assert outcome.response is not None
            response = outcome.response
            status, own, answer = response.status, [*response.headers, *extra], response.body
        policy, exposed = _cors_of(function, invocation)
        await self._answer(send, match, scope, status, own, answer, policy, exposed)

    @staticmethod
    async def _answer(
        send: Send,
        match: Match,
        scope: Scope,
        status: int,
        own: list[tuple[bytes, bytes]],
        body: bytes,
        policy: Cors | None = None,
        exposed: tuple[bytes, ...] = (),
    ) -> None:
        """Send a function's answer with its CORS fields (``policy``: its ``cors_origin``; the
        fields pyjinn added that a page may read, ``exposed``), then the ``header`` rules of
        its route, applied."""
        if policy is not None:
            own = cors.with_cors(policy, header(scope, b"origin"), own, exposed)
        if match.headers:
            info = None
            if answers.needs_request(match.headers, None):
                info = answers.request_info(scope, match.request_path.decoded, _uri(scope, match))
            own = answers.with_rules(match.headers, own, info)
        await send_whole(scope, send, status, own, body)


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


def _cors_of(function: Function, invocation: Invocation) -> tuple[Cors | None, tuple[bytes, ...]]:
    """The function's CORS settings, and the fields of its answer a page may read besides."""
    return function.spec.cors, EXPOSED_HEADERS if invocation.limit_headers else ()


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


async def _send_json(scope: Scope, send: Send, status: int, document: dict[str, Any]) -> None:
    await send_whole(scope, send, status, list(_JSON), json.dumps(document).encode())
