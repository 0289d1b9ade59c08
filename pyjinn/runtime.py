"""The runtime: configured functions, ready to invoke, and the pipeline every invocation follows.

One pipeline serves every trigger: take a slot (``pool_size``) → run the guest on a worker thread
in a fresh sandbox → log what the guest wrote to stderr → hand the ``Run`` back. Guest code never
runs on the event loop thread, so a slow function cannot stall other requests. The wait for a
slot and the instances in flight go to the function's metrics; whoever finishes the invocation
accounts for the rest (``pyjinn.observability.invocations``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any

from pyjinn.ai.routing import MeaningRouter
from pyjinn.backends.embeddings import EmbeddingsUnavailable, local_embedder
from pyjinn.capabilities import grants
from pyjinn.capabilities.ai import build_ai
from pyjinn.capabilities.base import Capability, FunctionHost
from pyjinn.capabilities.blobs import Blobs
from pyjinn.capabilities.core import Core
from pyjinn.capabilities.http import build_http
from pyjinn.capabilities.jobs import Jobs
from pyjinn.capabilities.kv import KeyValue
from pyjinn.capabilities.locks import Locks
from pyjinn.capabilities.sql import Sql
from pyjinn.capabilities.websocket import WebSocket
from pyjinn.config.model import Config, FunctionSpec, MeaningRoute, Route
from pyjinn.debug.recorder import RECORDER
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import SNAPSHOT_NEVER, SNAPSHOT_ON_FAILURE, Run, Sandbox, invoke
from pyjinn.engine.modules import CompiledModule, ModuleLoader, cache_dir_for
from pyjinn.errors import ModuleError
from pyjinn.handoff import GuestThreads
from pyjinn.observability import guest_logs, tracing
from pyjinn.observability.invocations import DebugSecret
from pyjinn.observability.metrics import REGISTRY as METRICS
from pyjinn.rate_limits import RateLimiter
from pyjinn.release import ModuleFiles, ModuleSource
from pyjinn.services import Services, needs_key_value
from pyjinn.slots import Slots
from pyjinn.tenants import TenantResolver
from pyjinn.websocket import Connection

log = logging.getLogger("pyjinn.runtime")


class Function:
    """One configured function: its spec, its compiled module, its sandbox and its slots."""

    def __init__(
        self,
        spec: FunctionSpec,
        loader: ModuleLoader,
        host: FunctionHost,
        modules: ModuleSource,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.host = host
        self.tenants = TenantResolver(spec)
        self._loader = loader
        self._modules = modules
        self._module: CompiledModule | None = None
        self._load_lock = threading.Lock()
        self.argv = argv = (spec.module_path.name, *spec.args)
        # With crash records on, a failed run keeps a copy of the guest's memory for its record.
        snapshot = SNAPSHOT_ON_FAILURE if spec.crash_records.enabled else SNAPSHOT_NEVER
        self.sandbox = Sandbox(
            loader.engine,
            spec.limits,
            argv=argv,
            env=spec.env,
            mounts=spec.mounts,
            host=host,
            snapshot=snapshot,
        )
        self.slots = Slots(spec.pool_size, spec.name)
        # Bound once: the request path only adds to these (kept across reloads, by name).
        self.metrics = METRICS.function(spec.name)
        self.debug_secret = DebugSecret(spec.debug_secret) if spec.debug_secret else None
        # Its rate_limit's buckets (see pyjinn.invocation, which checks them).
        self.limiter = limiter

    @property
    def module(self) -> CompiledModule:
        """The compiled module, loaded on first use; raises ``ModuleError`` if it cannot load."""
        module = self._module
        if module is None:
            with self._load_lock:
                if self._module is None:
                    data = self._modules.module_bytes(self.spec)
                    loaded = self._loader.load_bytes(
                        self.spec.module_path,
                        data,
                        symlinks=self.spec.allows_symlinks,
                        sandbox=self.sandbox,
                    )
                    self._check_memory(loaded)
                    self._check_grants(loaded)
                    self._module = loaded
                module = self._module
        return module

    def _check_memory(self, module: CompiledModule) -> None:
        if module.memory_minimum > self.spec.limits.memory_limit:
            raise ModuleError(
                str(self.spec.module_path),
                f"needs {module.memory_minimum} bytes of memory to start, more than the "
                f"function's memory_limit of {self.spec.limits.memory_limit} bytes",
            )

    def _check_grants(self, module: CompiledModule) -> None:
        """Refuse a module importing a host function whose grant this function lacks."""
        refusal = grants.refuse_imports(self.name, self.spec.permissions, module.imports)
        if refusal is not None:
            raise ModuleError(str(self.spec.module_path), refusal)

    @property
    def is_loaded(self) -> bool:
        return self._module is not None

    def module_bytes(self) -> bytes:
        """The module's bytes as its source has them now (crash records keep them)."""
        return self._modules.module_bytes(self.spec)

    def describe(self) -> dict[str, Any]:
        """What ``/status`` shows, with this process's live slot use."""
        description = describe_spec(self.spec, self._module.digest if self._module else None)
        description.update(
            loaded=self.is_loaded, in_flight=self.slots.in_use, peak_in_flight=self.slots.peak
        )
        return description


def describe_spec(spec: FunctionSpec, digest: str | None) -> dict[str, Any]:
    """A function's configuration as JSON, without environment values (they may hold secrets)."""
    limits = spec.limits
    return {
        "name": spec.name,
        "module": str(spec.module_path),
        "sha256": digest,
        "limits": {
            "timeout_seconds": limits.timeout,
            "memory_limit_bytes": limits.memory_limit,
            "fuel_limit": limits.fuel_limit,
            "stdout_limit_bytes": limits.stdout_limit,
            "stderr_limit_bytes": limits.stderr_limit,
            "max_body_bytes": limits.max_body,
        },
        "pool_size": spec.pool_size,
        "pool_wait_seconds": spec.pool_wait,
        "env": [name for name, _ in spec.env],
        "args": len(spec.args),
        "crash_records": {
            "enabled": spec.crash_records.enabled,
            "path": str(spec.crash_records.path),
            "sample": spec.crash_records.sample,
        },
        "mounts": [
            {
                "host": str(mount.host_dir),
                "guest": mount.guest_dir,
                "writable": mount.writable,
                "symlinks": mount.symlinks,
            }
            for mount in spec.mounts
        ],
    }


class Runtime:
    """The engine, the module loader and the functions of one config, with the invoke pipeline."""

    def __init__(
        self,
        config: Config,
        *,
        loader: ModuleLoader | None = None,
        services: Services | None = None,
        modules: ModuleSource | None = None,
    ) -> None:
        """``modules`` says where module bytes come from: a ``Release`` under ``pyjinn up``,
        the module files themselves (checked by each function's policy) by default."""
        self.config = config
        owns_engine = loader is None
        if loader is None:
            engine = Engine(max_instances=config.options.max_instances)
            loader = ModuleLoader(engine, cache_dir_for(config.options.data_dir))
        self.loader = loader
        self.engine = loader.engine
        self.services = services or Services()
        self.capabilities = build_capabilities(config, self.services)
        self.modules = modules or ModuleFiles()
        self.functions = {
            spec.name: Function(
                spec,
                self.loader,
                FunctionHost(spec.name, spec.permissions, self.capabilities),
                self.modules,
                limiter=(
                    RateLimiter(spec.name, spec.rate_limit, self.services.rate_buckets)
                    if spec.rate_limit is not None
                    else None
                ),
            )
            for spec in config.functions()
        }
        self._threads = GuestThreads(config.options.max_instances)
        self._started = False
        self._owns_engine = owns_engine
        # Requests being served with this runtime; a replaced runtime closes when it reaches 0.
        self.active = 0
        # route_by_meaning routes with their texts embedded, by the route's identity.
        self.meaning_routers: dict[int, MeaningRouter] = {}

    def successor(self, config: Config, modules: ModuleSource | None = None) -> Runtime:
        """A runtime for a reloaded ``config`` (with its modules from ``modules``) that reuses
        this one's engine and compiled modules when it can (same instance pool and cache)."""
        options, current = config.options, self.config.options
        if (options.max_instances, options.data_dir) != (current.max_instances, current.data_dir):
            return Runtime(config, services=self.services, modules=modules)
        return Runtime(config, loader=self.loader, services=self.services, modules=modules)

    def replaces(self, previous: Runtime) -> None:
        """Take over ``previous``'s engine when shared, so closing it leaves the engine running."""
        if previous.engine is self.engine:
            self._owns_engine, previous._owns_engine = previous._owns_engine, False
            self._started = previous._started

    def start(self) -> None:
        """Start the epoch ticker; idempotent."""
        if not self._started:
            self.engine.start()
            self._started = True

    def load_all(self) -> list[str]:
        """Load every module now rather than on first use, and embed the texts of routes by
        meaning; one message per module (or route) that failed."""
        problems = self._embed_meaning_routes()
        for name, function in self.functions.items():
            try:
                function.module  # noqa: B018 - loading is the point
            except ModuleError as error:
                where = f"{function.spec.location}: " if function.spec.location else ""
                problems.append(f"{where}function {name!r}: {error}")
        return problems

    def _embed_meaning_routes(self) -> list[str]:
        routes = [route for site in self.config.sites for route in _meaning_routes(site.routes)]
        if not routes:
            return []
        try:
            embedder = local_embedder()
        except EmbeddingsUnavailable as error:
            return [f"{route.location}: route_by_meaning: {error}" for route in routes]
        for route in routes:
            if id(route) not in self.meaning_routers:
                self.meaning_routers[id(route)] = MeaningRouter(route, embedder)
        return []

    def meaning_router(self, route: MeaningRoute) -> MeaningRouter:
        """The router of ``route`` (embedded by ``load_all``, or now if it was not called)."""
        router = self.meaning_routers.get(id(route))
        if router is None:
            router = self.meaning_routers[id(route)] = MeaningRouter(route, local_embedder())
        return router

    async def call(
        self,
        function: Function,
        stdin: bytes,
        *,
        tenant: str = "",
        trace_id: str = "",
        span: Any = None,
        pool_wait: float | None = None,
        snapshot: int | None = None,
        connection: Connection | None = None,
    ) -> Run:
        """Run ``function`` once with ``stdin``, waiting for a slot up to ``pool_wait`` seconds
        (default: the function's own); raises ``RequestRejected``.

        ``span`` is the invocation's tracing span, if it is recorded: host-call spans nest
        under it. ``snapshot`` overrides when the run copies the guest's memory (a recorded
        invocation copies it whatever the outcome). ``connection`` is the client's WebSocket
        connection, which the guest may take over: its slot and thread are then held for the
        connection's life."""
        self.start()
        metrics = function.metrics
        tenant = tenant or function.spec.tenant
        waited = time.perf_counter()
        try:
            await function.slots.acquire(
                function.spec.pool_wait if pool_wait is None else pool_wait
            )
        finally:
            metrics.pool_wait.observe(time.perf_counter() - waited)
        metrics.in_flight += 1
        job: Any = functools.partial(
            invoke,
            self.engine,
            function.module,
            function.sandbox,
            stdin,
            tenant=tenant,
            trace_id=trace_id,
            snapshot=snapshot,
            connection=connection,
        )
        if span is not None:
            job = tracing.GuestThreadSpan(span, job)
        try:
            run: Run = await self._threads.run(job)
        finally:
            metrics.in_flight -= 1
            function.slots.release()
        if run.stderr:
            guest_logs.emit_stderr(
                function.name, trace_id, tenant, run.stderr, run.stderr_truncated
            )
        return run

    def close(self) -> None:
        """Wait for running invocations and the crash records they left, then stop the ticker
        if the engine is ours alone."""
        self._threads.close()
        RECORDER.flush(timeout=10.0)
        if self._owns_engine:
            self.engine.close()


def _meaning_routes(routes: tuple[Route, ...]) -> list[MeaningRoute]:
    found: list[MeaningRoute] = []
    for route in routes:
        if isinstance(route.handler, MeaningRoute):
            found.append(route.handler)
        found += _meaning_routes(route.routes)
    return found


def build_capabilities(config: Config, services: Services) -> dict[str, Capability]:
    """Every capability, bound to this process's backends (connected on first use)."""
    store = services.kv_store() if needs_key_value(config) else None
    options = config.options
    databases = {
        spec.name: services.sql_database(spec.database, pool_size=options.db_pool_size)
        for spec in config.functions()
        if spec.database is not None and spec.permissions.db is not None
    }
    blob_stores = {
        spec.name: services.blob_store(spec.blob_storage)
        for spec in config.functions()
        if spec.blob_storage is not None
        and (spec.permissions.blob_read or spec.permissions.blob_write)
    }
    return {
        "core": Core(),
        "kv": KeyValue(store, max_value=options.kv_max_value),
        "db": Sql(databases),
        "blob": Blobs(blob_stores, max_size=options.blob_max_size),
        "jobs": Jobs(services, {spec.name: spec for spec in config.functions()}),
        "ai": build_ai(
            {spec.name: spec.ai for spec in config.functions() if spec.ai is not None},
            services.token_budgets,
        ),
        "http": build_http(
            {spec.name: spec.egress for spec in config.functions() if spec.permissions.http}
        ),
        "lock": Locks(
            services.lock_store()
            if any(spec.permissions.lock for spec in config.functions())
            else None
        ),
        "websocket": WebSocket(),
    }
