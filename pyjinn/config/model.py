"""The parsed, frozen configuration: what a Caddyfile means once every value is checked.

Nothing here parses text; ``pyjinn.config.load`` builds these objects and guarantees their
invariants (absolute paths, positive limits, unique function names), so the rest of pyjinn can
trust them without re-checking.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyjinn.config.paths import PathMatcher
from pyjinn.config.placeholders import Template
from pyjinn.egress import AllowList
from pyjinn.errors import Location
from pyjinn.signing.policy import TrustPolicy

__all__ = ["PathMatcher"]  # re-exported: matchers are part of the model

KiB = 1024
MiB = 1024 * KiB

DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_LIMIT = 128 * MiB
DEFAULT_OUTPUT_LIMIT = 5 * MiB
DEFAULT_MAX_BODY = 10 * MiB
DEFAULT_POOL_SIZE = 16
DEFAULT_POOL_WAIT = 1.0
DEFAULT_ADMIN_PORT = 2019
DEFAULT_MAX_INSTANCES = 1000
DEFAULT_DB_POOL_SIZE = 10
DEFAULT_BLOB_MAX_SIZE = 32 * MiB
DEFAULT_READ_HEADER_TIMEOUT = 10.0
DEFAULT_READ_BODY_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 300.0
DEFAULT_CRASH_RECORDS = 1000
DEFAULT_CRASH_BYTES = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Per-invocation limits of one function. Sizes are bytes, times are seconds."""

    timeout: float = DEFAULT_TIMEOUT
    memory_limit: int = DEFAULT_MEMORY_LIMIT
    fuel_limit: int | None = None
    stdout_limit: int = DEFAULT_OUTPUT_LIMIT
    stderr_limit: int = DEFAULT_OUTPUT_LIMIT
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True)
class Mount:
    """A host directory preopened inside the guest; read-only unless ``writable``. A guest may
    create symbolic links in it only with ``symlinks`` (links could point anywhere on the host,
    harmless to the sandbox but a trap for host tools that follow them)."""

    host_dir: Path
    guest_dir: str
    writable: bool = False
    symlinks: bool = False


def namespace_covers(namespace: str, key: str) -> bool:
    """Whether ``namespace`` grants ``key``: ``*`` grants everything, ``users`` grants ``users``
    and ``users/...``, never ``users_x`` (no bare string prefixes unless asked for: the glob
    ``last*`` grants every key starting with ``last``)."""
    if namespace.endswith("*"):
        return key.startswith(namespace[:-1])
    return key == namespace or key.startswith(namespace + "/")


@dataclass(frozen=True)
class Permissions:
    """What a function may touch, as namespaces per grant; deny by default (empty).

    ``db`` is ``"read"``, ``"write"`` (which includes reading) or None: SQL has no namespaces,
    each tenant has a database (or schema) of its own.
    """

    kv_read: tuple[str, ...] = ()
    kv_write: tuple[str, ...] = ()
    db: str | None = None
    blob_read: tuple[str, ...] = ()
    blob_write: tuple[str, ...] = ()
    # Functions this one may enqueue jobs for, by name (``*``: any function of the config).
    jobs_enqueue: tuple[str, ...] = ()

    def allows_enqueue(self, function: str) -> bool:
        return "*" in self.jobs_enqueue or function in self.jobs_enqueue

    ai: bool = False  # the model (ai_chat, host_ask_ai) and local embeddings (ai_embed)
    # Outbound HTTP (http_request, host_http_get), to the hosts its allow_host lists.
    http: bool = False
    # Lock namespaces (lock_acquire, lock_release, host_mutex_*): names as kv keys are.
    lock: tuple[str, ...] = ()
    # Taking over a WebSocket connection (ws_*, host_ws_*): the invocation holds its sandbox
    # for the connection's life.
    websocket: bool = False

    def allows(self, grant: str, key: str) -> bool:
        namespaces: tuple[str, ...] = getattr(self, grant)
        return any(namespace_covers(namespace, key) for namespace in namespaces)

    def holds(self, grant: str) -> bool:
        """Whether a line of the permissions block gives ``grant``, for some namespace: a grant
        as ``pyjinn.abi`` names what a host function needs (``kv_write``, ``db read``...).
        ``db write`` includes ``db read``; the empty grant (core functions) is always held."""
        if not grant:
            return True
        if grant == "db read":
            return self.db is not None
        if grant == "db write":
            return self.db == "write"
        return bool(getattr(self, grant))

    @property
    def allows_db_write(self) -> bool:
        return self.db == "write"


@dataclass(frozen=True)
class StorageSettings:
    """The ``db_*`` and ``s3_*`` directives as written: in the global options, or a function
    block's over them (each directive a function sets replaces the global one)."""

    db_driver: str | None = None
    db_dsn: str | None = field(default=None, repr=False)  # may hold a password
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_bucket: str | None = None
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Database:
    """Where a function's SQL calls go.

    ``driver`` is ``sqlite``, ``libsql`` or ``postgres``. For the file engines ``location`` is an
    absolute path pattern holding ``{tenant}`` (one database file per tenant); for PostgreSQL it
    is the connection string (a secret: it may hold a password), and each tenant gets a schema.
    """

    driver: str
    location: str = field(repr=False)

    @property
    def is_file(self) -> bool:
        return self.driver in ("sqlite", "libsql")


@dataclass(frozen=True)
class BlobStorage:
    """Where a function's object storage calls go: an S3 bucket, or with no ``endpoint`` and no
    credentials, the embedded filesystem store under ``root``. Keys are kept per tenant (a
    directory or a ``<tenant>/`` key prefix)."""

    bucket: str
    root: Path | None = None  # the filesystem store's bucket directory
    endpoint: str | None = None  # None with is_s3: AWS S3 itself
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)

    @property
    def is_s3(self) -> bool:
        return self.root is None


@dataclass(frozen=True)
class CrashRecords:
    """Crash records (``record_crashes``, ``crash_path``, ``crash_retention``, ``record_sample``):
    whether every failed invocation writes one, the directory they go to, how many records and
    bytes that directory keeps (the oldest go first), and the share of successful invocations
    recorded as well."""

    enabled: bool = True
    path: Path = Path("data/crashes")
    max_records: int = DEFAULT_CRASH_RECORDS
    max_bytes: int = DEFAULT_CRASH_BYTES
    sample: float = 0.0


DEFAULT_MAX_DURATION = 3600.0
DEFAULT_MAX_MESSAGE = 1 * MiB


@dataclass(frozen=True)
class WebSocketSettings:
    """How a function's WebSocket connections are bounded: ``max_duration`` seconds in all
    (the function's ``timeout`` is the idle time between messages), messages of at most
    ``max_message`` bytes either way, and the browser origins (``ws_origin``) that may open
    one; empty: any origin."""

    max_duration: float = DEFAULT_MAX_DURATION
    max_message: int = DEFAULT_MAX_MESSAGE
    origins: tuple[str, ...] = ()


@dataclass(frozen=True)
class AiCache:
    """``ai_cache``: answers kept per tenant and model, at most ``max_entries`` of them, each for
    ``ttl`` seconds. ``exact`` reuses an answer for the same request; ``semantic`` also for a
    request whose text embeds within cosine ``threshold`` of a cached one (with the same model
    parameters)."""

    mode: str  # exact or semantic
    threshold: float = 0.95
    ttl: float = 3600.0
    max_entries: int = 1000


@dataclass(frozen=True)
class AiSettings:
    """Where a function's model calls go, resolved from its ``ai_*`` directives over the global
    ones. ``endpoint`` is the chat completions URL; ``allow`` the hosts calls may reach (the
    endpoint's own host when ``allow_host`` is not given). ``token`` is a secret."""

    provider: str  # openai or ollama (both speak the OpenAI chat completions protocol)
    endpoint: str
    model: str
    allow: AllowList
    token: str | None = field(default=None, repr=False)
    tokens_per_minute: int | None = None
    cache: AiCache | None = None


@dataclass(frozen=True)
class AiTool:
    """``ai_tool``: the function is the MCP tool ``name``. ``schema`` is its input JSON Schema
    (as JSON text, so the config stays hashable). ``contract`` is ``pyjinn`` (the request
    envelope, ``method: "MCP"``, the arguments as the body) or ``gojinn`` (the bare arguments
    on stdin, text on stdout)."""

    name: str
    description: str
    schema: str
    contract: str = "pyjinn"


@dataclass(frozen=True)
class RateLimit:
    """``rate_limit RPS [BURST]``: each tenant may start the function ``rate`` times per second
    on average, and ``burst`` times at once (a token bucket every worker process shares)."""

    rate: float
    burst: int


@dataclass(frozen=True)
class Cors:
    """``cors_origin``: the origins whose pages a browser lets read the function's answers,
    exactly as browsers send them (``scheme://host[:port]``), or ``("*",)`` for any origin.
    ``credentials`` lets those pages send cookies and HTTP authentication (never with ``*``)."""

    origins: tuple[str, ...]
    credentials: bool = False

    @property
    def any_origin(self) -> bool:
        return self.origins == ("*",)

    def allows(self, origin: str | None) -> bool:
        """Whether a request whose ``Origin`` header is ``origin`` comes from an allowed page:
        the one rule for CORS answers and for WebSocket upgrades. Compared exactly, as sent."""
        if origin is None:
            return False
        return self.any_origin or origin in self.origins


DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class ApiKey:
    """A configured API key, kept only as its SHA-256 digest, and the tenant it identifies."""

    digest: bytes
    tenant: str


@dataclass(frozen=True)
class JobSettings:
    """How a function's jobs run: ``always_async`` answers every request 202 and runs it as a
    job; a failed job is tried ``max_attempts`` times in all, waiting ``retry_backoff`` before
    the second attempt and twice as long before each next one, at most ``retry_backoff_max``."""

    always_async: bool = False
    max_attempts: int = 5
    retry_backoff: float = 1.0
    retry_backoff_max: float = 300.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (2 and up)."""
        return float(min(self.retry_backoff_max, self.retry_backoff * 2 ** max(0, attempt - 2)))


@dataclass(frozen=True)
class JobOptions:
    """The global options of the job queues: results are kept ``retention`` seconds, a tenant
    may have at most ``max_queued`` jobs waiting, and streams and buckets are created with
    ``replicas`` copies (a NATS cluster)."""

    retention: float = 24 * 3600.0
    max_queued: int = 100_000
    replicas: int = 1


@dataclass(frozen=True)
class MqttBroker:
    """Where MQTT triggers connect (``mqtt_broker`` and friends): ``url`` None is the embedded
    nats-server's MQTT listener. One connection per broker and client id serves every topic."""

    url: str | None = None
    client_id: str = "pyjinn"
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CronTrigger:
    """``cron "SPEC"``: run ``function`` at each tick of ``schedule`` (as written); with
    ``catch_up``, once for the ticks missed while pyjinn was down."""

    function: str
    schedule: str
    catch_up: bool = False
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MqttTrigger:
    """``mqtt_subscribe TOPIC``: run ``function`` for each message matching ``topic`` (an MQTT
    topic filter, wildcards allowed) on ``broker``."""

    function: str
    topic: str
    broker: MqttBroker = field(default_factory=MqttBroker)
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NatsTrigger:
    """``nats_subscribe SUBJECT``: run ``function`` for each message on ``subject`` (wildcards
    allowed) of the NATS server pyjinn uses; a request gets the function's response body as
    its reply."""

    function: str
    subject: str
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Triggers:
    """Events other than HTTP requests that run functions."""

    cron: tuple[CronTrigger, ...] = ()
    mqtt: tuple[MqttTrigger, ...] = ()
    nats: tuple[NatsTrigger, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.cron or self.mqtt or self.nats)

    def __add__(self, other: Triggers) -> Triggers:
        return Triggers(self.cron + other.cron, self.mqtt + other.mqtt, self.nats + other.nats)


@dataclass(frozen=True)
class FunctionSpec:
    """One configured function: a module, its limits and what its sandbox may see."""

    name: str
    module_path: Path
    location: Location | None = None
    limits: Limits = field(default_factory=Limits)
    pool_size: int = DEFAULT_POOL_SIZE
    pool_wait: float = DEFAULT_POOL_WAIT
    env: tuple[tuple[str, str], ...] = ()
    args: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    # A request carrying it in X-Pyjinn-Debug gets the guest's log lines back; a secret.
    debug_secret: str | None = field(default=None, repr=False)
    permissions: Permissions = field(default_factory=Permissions)
    # Keys that reach this function (its own and the global ones); none: every request is
    # served as ``tenant``.
    api_keys: tuple[ApiKey, ...] = ()
    tenant: str = DEFAULT_TENANT
    # Credential headers (Authorization, Proxy-Authorization, X-API-Key) this function receives;
    # every other one is removed from its requests.
    forward_credentials: tuple[str, ...] = ()
    # The function's own ``security`` block, else the global one, else off.
    security: TrustPolicy = field(default_factory=TrustPolicy)
    # Its SQL database and object storage, if configured (function directives over global ones).
    database: Database | None = None
    blob_storage: BlobStorage | None = None
    jobs: JobSettings = field(default_factory=JobSettings)
    # Crash records: the function's settings over the global ones.
    crash_records: CrashRecords = field(default_factory=CrashRecords)
    # The env names whose value came from a {env.X} or {$X} placeholder: secrets, never
    # written to a crash record.
    secret_env: frozenset[str] = frozenset()
    # Its model settings when it may call the model (ai_* directives over the global ones).
    ai: AiSettings | None = None
    # Its MCP tool description, if it is one (ai_tool).
    tool: AiTool | None = None
    # Triggers written in the function's own block (cron, mqtt_subscribe, nats_subscribe).
    triggers: Triggers = field(default_factory=Triggers)
    # The hosts its outbound calls may reach (allow_host, the function's over the global one);
    # empty without allow_host. Its model calls use it too when it is given.
    egress: AllowList = field(default_factory=AllowList)
    # Its rate limit per tenant (rate_limit) and the origins that may read it (cors_origin).
    rate_limit: RateLimit | None = None
    cors: Cors | None = None
    # Its WebSocket connections' bounds (max_duration, max_message, ws_origin).
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)

    @property
    def allows_symlinks(self) -> bool:
        """Whether the guest may create symbolic links (its rw mounts say ``symlinks``)."""
        return any(mount.symlinks for mount in self.mounts)


@dataclass(frozen=True)
class Respond:
    """A static answer (Caddy's ``respond``); ``template`` is ``body`` compiled, with its
    request placeholders (None: the body is sent as written)."""

    status: int = 200
    body: str = ""
    location: Location | None = None
    template: Template | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class HeaderOperation:
    """One line of a ``header`` directive: ``set`` (``Field value``), ``add`` (``+Field``),
    ``delete`` (``-Field``, ``*`` at either end matching many) or ``default`` (``?Field``:
    set only if the response lacks it)."""

    action: str
    name: str
    value: Template | None = None


@dataclass(frozen=True)
class HeaderRule:
    """A ``header`` directive: response header operations for requests its matcher matches.

    ``deferred`` rules apply once the answer's own headers are set (``>``, ``-`` or ``defer``);
    the others before, so the answer may override them. ``defaults`` (the ``?`` lines) apply
    last, and only when the response has none of their fields. ``position`` is how many of
    its block's routes come before it: it applies to answers from the routes after it.
    """

    matcher: PathMatcher | None
    operations: tuple[HeaderOperation, ...] = ()
    defaults: tuple[HeaderOperation, ...] = ()
    deferred: bool = False
    position: int = 0
    location: Location | None = None


@dataclass(frozen=True)
class MeaningTarget:
    """One destination of ``route_by_meaning``: a function, by name, and the texts that say what
    it is for (its description and example phrases)."""

    function: str
    texts: tuple[str, ...]


@dataclass(frozen=True)
class MeaningRoute:
    """``route_by_meaning``: send a request to the target whose texts are nearest to the request's
    text (cosine similarity of local embeddings), if the best score reaches ``threshold``; else
    to ``fallback`` (none: 404). ``field`` names the JSON body field holding the text (None: the
    whole body, or the ``q`` query parameter when the body is empty)."""

    targets: tuple[MeaningTarget, ...]
    threshold: float = 0.35
    fallback: str | None = None
    field: str | None = None
    location: Location | None = None
    path: str = "*"  # its path matcher as written, which names it in metrics


Handler = FunctionSpec | Respond | MeaningRoute


@dataclass(frozen=True)
class Route:
    """A matcher and what answers when it matches: a handler, or nested routes tried in order.

    ``strip_prefix`` (Caddy's ``handle_path``) removes the matched prefix from the path the
    handler sees.
    """

    matcher: PathMatcher | None
    handler: Handler | None = None
    routes: tuple[Route, ...] = ()
    strip_prefix: bool = False
    location: Location | None = None
    # The ``header`` directives of this route's block (``routes``).
    headers: tuple[HeaderRule, ...] = ()

    def functions(self) -> Iterator[FunctionSpec]:
        if isinstance(self.handler, FunctionSpec):
            yield self.handler
        for route in self.routes:
            yield from route.functions()


@dataclass(frozen=True)
class Address:
    """A listen address. ``host`` is None for all interfaces (``:8080``)."""

    host: str | None
    port: int

    def __str__(self) -> str:
        return f"{self.host or ''}:{self.port}"


@dataclass(frozen=True)
class Site:
    """A site block: the addresses it listens on and its routes, tried in order."""

    addresses: tuple[Address, ...]
    routes: tuple[Route, ...]
    location: Location | None = None
    # Where the site serves its functions' MCP tools (Streamable HTTP); None: no MCP endpoint.
    mcp_path: str | None = None
    headers: tuple[HeaderRule, ...] = ()

    def functions(self) -> Iterator[FunctionSpec]:
        for route in self.routes:
            yield from route.functions()


@dataclass(frozen=True)
class Tracing:
    """The ``tracing`` global option. ``mode`` is ``auto`` (the standard ``OTEL_*`` environment
    variables decide), ``otlp`` (export over OTLP/HTTP to ``endpoint``, or to the one the
    environment names) or ``off``. ``sample`` is the share of new traces recorded (a request
    whose ``traceparent`` says sampled is always recorded); None leaves it to the environment."""

    mode: str = "auto"
    endpoint: str | None = None
    sample: float | None = None


@dataclass(frozen=True)
class ServerSettings:
    """The ``servers`` global option: how each worker treats client connections.

    ``read_header_timeout`` bounds reading a request's headers, from the connection's accept
    (first request) or the request's first byte (later ones); ``read_body_timeout`` bounds each
    wait for more of a body; ``idle_timeout`` bounds a kept-alive connection's wait for its next
    request. ``max_connections`` is per worker; None derives it from the worker's open-file
    limit. Times are seconds.
    """

    read_header_timeout: float = DEFAULT_READ_HEADER_TIMEOUT
    read_body_timeout: float = DEFAULT_READ_BODY_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_connections: int | None = None


DEFAULT_KEEP_VERSIONS = 5


@dataclass(frozen=True)
class GlobalOptions:
    """The global options block. ``admin`` is None when the admin listener is off."""

    admin: Address | None = Address("127.0.0.1", DEFAULT_ADMIN_PORT)
    data_dir: Path = Path("data")
    max_instances: int = DEFAULT_MAX_INSTANCES
    tracing: Tracing = field(default_factory=Tracing)
    security: TrustPolicy = field(default_factory=TrustPolicy)
    api_keys: tuple[ApiKey, ...] = ()
    tenant: str = DEFAULT_TENANT
    # An existing NATS server or cluster; without it, pyjinn starts an embedded one when a
    # function needs key-value storage. The password is a secret: never logged or shown.
    nats_urls: tuple[str, ...] = ()
    nats_user: str | None = None
    nats_password: str | None = field(default=None, repr=False)
    kv_max_value: int = 1024 * 1024
    # Defaults for every function's db_* and s3_* directives.
    storage: StorageSettings = field(default_factory=StorageSettings)
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    blob_max_size: int = DEFAULT_BLOB_MAX_SIZE
    servers: ServerSettings = field(default_factory=ServerSettings)
    jobs: JobOptions = field(default_factory=JobOptions)
    crash_records: CrashRecords = field(default_factory=CrashRecords)
    # The MQTT broker of every mqtt_subscribe that does not name its own.
    mqtt: MqttBroker = field(default_factory=MqttBroker)
    # The private key `pyjinn up`, `dev` and `deploy` sign built modules with (never read by
    # the server itself), and how many versions of each function deploys keep for rollbacks.
    signing_key: Path | None = None
    keep_versions: int = DEFAULT_KEEP_VERSIONS
    # Every function's rate_limit and cors_origin, unless its block says otherwise.
    rate_limit: RateLimit | None = None
    cors: Cors | None = None


@dataclass(frozen=True)
class Config:
    """A whole configuration: global options and sites."""

    options: GlobalOptions = field(default_factory=GlobalOptions)
    sites: tuple[Site, ...] = ()
    source: Path | None = None
    # Triggers written in the global options and site blocks, naming their functions.
    triggers: Triggers = field(default_factory=Triggers)
    # What loaded but deserves a word (``FILE:LINE: message``): implied grants, Gojinn
    # settings whose meaning differs here. ``pyjinn validate`` prints them, ``pyjinn up`` logs.
    warnings: tuple[str, ...] = ()

    def functions(self) -> Iterator[FunctionSpec]:
        for site in self.sites:
            yield from site.functions()

    def all_triggers(self) -> Triggers:
        """Every trigger of the config: the functions' own, then the global and site ones."""
        found = Triggers()
        for spec in self.functions():
            found += spec.triggers
        return found + self.triggers
