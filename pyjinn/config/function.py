"""A ``pyjinn`` (or ``gojinn``) block to a checked :class:`FunctionSpec`.

Gojinn silently ignores sub-directives it does not know and most bad values; pyjinn rejects
both, and names the Gojinn directives it recognises but has not built yet, so a Gojinn Caddyfile
never loads with a feature quietly missing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pyjinn.config.access import (
    API_KEY_USAGE,
    FORWARD_CREDENTIALS_USAGE,
    TENANT_USAGE,
    build_api_key,
    build_forward_credentials,
    build_permissions,
    build_tenant,
    merge_api_keys,
)
from pyjinn.config.ai import (
    AI_DIRECTIVES,
    TOOL_USAGE,
    build_ai_setting,
    build_ai_tool,
    may_call_model,
    merge_ai_setting,
    resolve_ai,
)
from pyjinn.config.ai import USAGE as AI_USAGE
from pyjinn.config.cors import CORS_DIRECTIVES, CORS_ORIGIN, build_cors
from pyjinn.config.cors import USAGE as CORS_USAGE
from pyjinn.config.crashes import CRASH_DIRECTIVES, build_crash_setting
from pyjinn.config.crashes import USAGE as CRASH_USAGE
from pyjinn.config.diagnostics import Diagnostics, describe, parse_count, suggestion
from pyjinn.config.egress import resolve_egress
from pyjinn.config.files import PathProblem, kind, resolve
from pyjinn.config.jobs import FUNCTION_DIRECTIVES as JOB_DIRECTIVES
from pyjinn.config.jobs import FUNCTION_USAGE as JOB_USAGE
from pyjinn.config.jobs import apply_function_directive as apply_job_directive
from pyjinn.config.model import (
    DEFAULT_POOL_SIZE,
    DEFAULT_POOL_WAIT,
    DEFAULT_TENANT,
    ApiKey,
    BlobStorage,
    Cors,
    CrashRecords,
    Database,
    FunctionSpec,
    JobSettings,
    KiB,
    Limits,
    Mount,
    MqttBroker,
    Permissions,
    RateLimit,
    StorageSettings,
    WebSocketSettings,
)
from pyjinn.config.observability import DEBUG_SECRET_USAGE, build_debug_secret
from pyjinn.config.parser import Directive
from pyjinn.config.rate_limit import RATE_LIMIT_DIRECTIVE, build_rate_limit, resolve_rate_limit
from pyjinn.config.rate_limit import USAGE as RATE_LIMIT_USAGE
from pyjinn.config.security import SECURITY_USAGE, build_security
from pyjinn.config.storage import (
    STORAGE_DIRECTIVES,
    build_storage_setting,
    resolve_blob_storage,
    resolve_database,
)
from pyjinn.config.storage import USAGE as STORAGE_USAGE
from pyjinn.config.triggers import (
    BROKER_DIRECTIVES,
    TRIGGER_DIRECTIVES,
    PendingTrigger,
    apply_broker_setting,
    build_trigger,
    function_triggers,
)
from pyjinn.config.triggers import FUNCTION_USAGE as TRIGGER_USAGE
from pyjinn.config.units import parse_duration, parse_size
from pyjinn.config.websocket import DIRECTIVES as WEBSOCKET_DIRECTIVES
from pyjinn.config.websocket import USAGE as WEBSOCKET_USAGE
from pyjinn.config.websocket import apply_directive as apply_websocket_directive
from pyjinn.signing.policy import TrustPolicy

T = TypeVar("T")

# Gojinn sub-directives pyjinn knows but has not built yet, by the capability that will bring
# them. Remove names here as capabilities land.
_NOT_YET_BUILT: dict[str, tuple[str, ...]] = {
    "libSQL replication": ("db_sync_url", "db_sync_token"),
    "NATS": (
        "nats_port", "nats_routes", "nats_user_seed", "trusted_nats_users",
        "cluster_name", "cluster_port", "cluster_peers", "leaf_remotes",
        "leaf_port", "server_name", "store_cipher_key", "consensus",
    ),
    "error reporting to Sentry": ("sentry_dsn",),
    "NATS cluster (Gojinn's cluster block)": ("cluster",),
}  # fmt: skip
NOT_YET_SUPPORTED: dict[str, str] = {
    name: capability for capability, names in _NOT_YET_BUILT.items() for name in names
}

MODULE_FILE_DIRECTIVES = ("wasm_file", "path")
MODULE_EXTENSIONS = (".wasm", ".wat", ".py", ".pyz")  # .py, .pyz: Python functions
MIN_MEMORY_LIMIT = 64 * KiB  # one wasm page
MAX_MEMORY_LIMIT = 4 * 1024 * 1024 * KiB  # the whole wasm32 address space
_NAME = re.compile(r"[A-Za-z0-9_.-]+")

_USAGE = {
    "name": "name expects one name, like: name hello",
    "timeout": "timeout expects one duration, like: timeout 2s",
    "memory_limit": "memory_limit expects one size, like: memory_limit 128MiB",
    "fuel_limit": "fuel_limit expects one positive integer, like: fuel_limit 100000000",
    "stdout_limit": "stdout_limit expects one size, like: stdout_limit 5MiB",
    "stderr_limit": "stderr_limit expects one size, like: stderr_limit 5MiB",
    "max_body": "max_body expects one size, like: max_body 10MiB",
    "pool_size": "pool_size expects one positive integer, like: pool_size 16",
    "pool_wait": "pool_wait expects one duration, like: pool_wait 1s",
    "env": 'env expects a name and a value, like: env GREETING "hello world"',
    "args": "args expects at least one argument, like: args --verbose",
    "mount": "mount expects a host directory, a guest directory and optionally ro or rw "
    "(rw may be followed by symlinks), like: mount ./static /static ro",
    "wasm_file": "wasm_file expects one module file, like: wasm_file hello.wasm",
    "path": "path expects one module file, like: path hello.wasm",
    "security": SECURITY_USAGE,
    "api_key": API_KEY_USAGE,
    "tenant": TENANT_USAGE,
    "forward_credentials": FORWARD_CREDENTIALS_USAGE,
    "permissions": "permissions expects a block of grants, like: permissions { kv_read users }",
    "debug_secret": DEBUG_SECRET_USAGE,
    "data_dir": "data_dir expects one directory, like: data_dir ./data/reports",
    **STORAGE_USAGE,
    **JOB_USAGE,
    **{name: CRASH_USAGE[name] for name in CRASH_DIRECTIVES},
    **AI_USAGE,
    "ai_tool": TOOL_USAGE,
    **TRIGGER_USAGE,
    RATE_LIMIT_DIRECTIVE: RATE_LIMIT_USAGE,
    **CORS_USAGE,
    **WEBSOCKET_USAGE,
}
SUPPORTED = tuple(_USAGE)
_ONCE_ONLY = frozenset(SUPPORTED) - {
    "env", "mount", "api_key", "allow_host", "ws_origin", *TRIGGER_DIRECTIVES, CORS_ORIGIN,
}  # fmt: skip
# Global options a Gojinn file may put in a function block.
_GLOBAL_ONLY = (
    "nats_url",
    "nats_user",
    "nats_password",
    "kv_max_value",
    "db_pool_size",
    "blob_max_size",
    "job_retention",
    "max_queued_jobs",
    "cluster_replicas",
    "crash_retention",
)


@dataclass(frozen=True)
class FunctionContext:
    """What a function block needs from the rest of the config."""

    base_dir: Path
    max_instances: int
    security: TrustPolicy = field(default_factory=TrustPolicy)
    api_keys: tuple[tuple[ApiKey, Directive], ...] = ()
    tenant: str = DEFAULT_TENANT
    data_dir: Path = Path("data")
    # The global db_* and s3_* settings, and the option lines that set them.
    storage: StorageSettings = field(default_factory=StorageSettings)
    storage_lines: dict[str, Directive] = field(default_factory=dict)
    crash_records: CrashRecords = field(default_factory=CrashRecords)
    # The global ai_* and allow_host settings (checked values), and the lines that set them.
    ai: dict[str, Any] = field(default_factory=dict)
    ai_lines: dict[str, Directive] = field(default_factory=dict)
    # The global mqtt_* settings, every block's default broker.
    mqtt: MqttBroker = field(default_factory=MqttBroker)
    # The global rate_limit and cors_* settings, every block's default.
    rate_limit: RateLimit | None = None
    cors: Cors | None = None


@dataclass
class _Draft:
    """Values gathered from a block before they are frozen into a FunctionSpec."""

    module_text: str | None = None
    module_source: str = ""
    module_line: Directive | None = None
    name: str | None = None
    limits: Limits = field(default_factory=Limits)
    pool_size: int = DEFAULT_POOL_SIZE
    pool_wait: float = DEFAULT_POOL_WAIT
    env: dict[str, str] = field(default_factory=dict)
    env_lines: dict[str, Directive] = field(default_factory=dict)
    secret_env: set[str] = field(default_factory=set)
    args: tuple[str, ...] = ()
    mounts: dict[str, Mount] = field(default_factory=dict)
    mount_lines: dict[str, Directive] = field(default_factory=dict)
    debug_secret: str | None = None
    security: TrustPolicy | None = None
    api_keys: list[tuple[ApiKey, Directive]] = field(default_factory=list)
    tenant: str | None = None
    forward_credentials: tuple[str, ...] = ()
    permissions_line: Directive | None = None
    storage: dict[str, str] = field(default_factory=dict)
    jobs: JobSettings = field(default_factory=JobSettings)
    storage_lines: dict[str, Directive] = field(default_factory=dict)
    crash_settings: dict[str, Any] = field(default_factory=dict)
    ai: dict[str, Any] = field(default_factory=dict)
    ai_lines: dict[str, Directive] = field(default_factory=dict)
    tool_line: Directive | None = None
    triggers: list[PendingTrigger] = field(default_factory=list)
    mqtt: MqttBroker | None = None  # the block's mqtt_* settings over the global ones
    # Where this function's default SQL files and embedded object store live, if not the
    # global data_dir.
    data_dir: Path | None = None
    rate_limit_line: Directive | None = None
    cors_origin_lines: list[Directive] = field(default_factory=list)
    cors_credentials_line: Directive | None = None
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    websocket_lines: list[Directive] = field(default_factory=list)


def build_function(
    directive: Directive, module_arg: str | None, context: FunctionContext, report: Diagnostics
) -> FunctionSpec | None:
    """Check one ``pyjinn``/``gojinn`` directive; None if anything in it was wrong (reported)."""
    errors_before = len(report.errors)
    draft = _Draft(module_text=module_arg, module_source="an argument", module_line=directive)
    seen: dict[str, Directive] = {}
    for sub in directive.block or ():
        if sub.name in _ONCE_ONLY:
            if sub.name in seen or (sub.name in MODULE_FILE_DIRECTIVES and draft.module_text):
                _report_repeat(sub, seen, draft, report)
                continue
            seen[sub.name] = sub
        _apply(sub, draft, context, report, block_name=directive.name)
    _check_symlinks_agree(draft, report)

    database, blob_storage, permissions = _storage_and_permissions(
        directive, draft, context, report
    )
    ai = resolve_ai(
        {**context.ai, **draft.ai},
        {**context.ai_lines, **draft.ai_lines},
        draft.ai_lines,
        permissions=permissions,
        function_line=draft.permissions_line or directive,
        report=report,
    )
    if ai is not None and not permissions.ai:
        permissions = replace(permissions, ai=True)  # granted by ai_provider/ai_endpoint here
    egress = resolve_egress(
        {**context.ai, **draft.ai},
        draft.ai_lines,
        permissions=permissions,
        calls_model=may_call_model(permissions, draft.ai_lines),
        permissions_line=draft.permissions_line,
        written=any(sub.name == "allow_host" for sub in directive.block or ()),
        report=report,
    )
    if draft.websocket_lines and not permissions.websocket:
        line = draft.websocket_lines[0]
        report.error(
            line,
            f"{line.name} bounds WebSocket connections, which this function may not take over: "
            "add the line `websocket` to its permissions block",
        )
    module_path = _module_path(directive, draft, context, report)
    if module_path is None:
        return None
    name = draft.name if draft.name is not None else module_path.stem
    if draft.name is None and not _NAME.fullmatch(name):
        report.error(
            directive,
            f"function name '{name}' (taken from the module file name) may only use letters, "
            "digits, '_', '.' and '-'; give it a 'name'",
        )
        return None
    # Checked even when other lines of the block are wrong, so one pass reports them all.
    triggers = function_triggers(
        draft.triggers,
        function=name,
        module_path=module_path,
        base_dir=context.base_dir,
        broker=draft.mqtt or context.mqtt,
        report=report,
    )
    rate_limit, cors = _edge(directive, draft, context, report)
    if len(report.errors) > errors_before:
        return None
    tool = None
    if draft.tool_line is not None:
        tool = build_ai_tool(
            draft.tool_line,
            function_name=name,
            default_contract="gojinn" if directive.name == "gojinn" else "pyjinn",
            base_dir=context.base_dir,
            report=report,
        )
        if tool is None:
            return None
    return FunctionSpec(
        name=name,
        module_path=module_path,
        location=directive.location,
        limits=draft.limits,
        pool_size=draft.pool_size,
        pool_wait=draft.pool_wait,
        env=tuple(draft.env.items()),
        args=draft.args,
        mounts=tuple(draft.mounts.values()),
        debug_secret=draft.debug_secret,
        security=draft.security if draft.security is not None else context.security,
        permissions=permissions,
        database=database,
        blob_storage=blob_storage,
        jobs=draft.jobs,
        api_keys=merge_api_keys([*context.api_keys, *draft.api_keys], report),
        tenant=draft.tenant if draft.tenant is not None else context.tenant,
        forward_credentials=draft.forward_credentials,
        crash_records=replace(context.crash_records, **draft.crash_settings),
        secret_env=frozenset(draft.secret_env),
        ai=ai,
        tool=tool,
        triggers=triggers,
        egress=egress,
        rate_limit=rate_limit,
        cors=cors,
        websocket=draft.websocket,
    )


def _edge(
    directive: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> tuple[RateLimit | None, Cors | None]:
    """The function's rate_limit and CORS settings: its own block's lines, else the global
    ones (the cors_* lines of a block go together)."""
    own_limit = None
    if draft.rate_limit_line is not None:
        own_limit = build_rate_limit(draft.rate_limit_line, report, allow_off=True)
    rate_limit = resolve_rate_limit(
        own_limit,
        context.rate_limit,
        block=directive,
        own_line=draft.rate_limit_line,
        has_api_keys=bool(context.api_keys or draft.api_keys),
        report=report,
    )
    if not draft.cors_origin_lines and draft.cors_credentials_line is None:
        return rate_limit, context.cors
    own_cors = build_cors(
        draft.cors_origin_lines, draft.cors_credentials_line, report, in_function=True
    )
    return rate_limit, own_cors if isinstance(own_cors, Cors) else None


def _storage_and_permissions(
    directive: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> tuple[Database | None, BlobStorage | None, Permissions]:
    """The function's database and object storage (its db_*/s3_* directives over the global
    ones), and its permissions, which may only grant what is configured.

    Storage configured in the function's own block is its grant (Gojinn's rule): read-write,
    unless its permissions block says otherwise; said in a warning. Global storage still
    needs an explicit grant."""
    settings = replace(context.storage, **draft.storage)
    lines = {**context.storage_lines, **draft.storage_lines}
    data_dir = draft.data_dir or context.data_dir
    database = resolve_database(
        settings,
        lines,
        data_dir=data_dir,
        base_dir=context.base_dir,
        report=report,
        tenants=_tenants(draft, context),
    )
    blob_storage = resolve_blob_storage(settings, lines, data_dir=data_dir, report=report)
    line = draft.permissions_line
    permissions = Permissions()
    if line is not None:
        built = build_permissions(
            line, report, bucket=settings.s3_bucket, gojinn=directive.name == "gojinn"
        )
        permissions = built or Permissions()
        _check_grants_have_storage(
            directive, line, permissions, database, blob_storage, lines, report
        )
    return (
        database,
        blob_storage,
        _own_storage_grants(directive, draft, permissions, database, blob_storage, report),
    )


def _tenants(draft: _Draft, context: FunctionContext) -> frozenset[str]:
    """The tenants a function serves: those of its API keys, else its one tenant."""
    keys = [key for key, _ in (*context.api_keys, *draft.api_keys)]
    if keys:
        return frozenset(key.tenant for key in keys)
    return frozenset({draft.tenant or context.tenant})


def _check_grants_have_storage(
    directive: Directive,
    line: Directive,
    permissions: Permissions,
    database: Database | None,
    blob_storage: BlobStorage | None,
    lines: dict[str, Directive],
    report: Diagnostics,
) -> None:
    if permissions.db is not None and database is None and "db_driver" not in lines:
        report.error(
            line,
            f"db {permissions.db} needs a database: set db_driver (and db_dsn) in this "
            f"{directive.name} block or in the global options",
        )
    blob_grant = next(
        (grant for grant in ("blob_read", "blob_write") if getattr(permissions, grant)), None
    )
    if blob_grant is not None and blob_storage is None and "s3_bucket" not in lines:
        report.error(
            line,
            f"{blob_grant} needs object storage: set s3_bucket in this {directive.name} block "
            "or in the global options",
        )


def _own_storage_grants(
    directive: Directive,
    draft: _Draft,
    permissions: Permissions,
    database: Database | None,
    blob_storage: BlobStorage | None,
    report: Diagnostics,
) -> Permissions:
    """``permissions`` plus read-write access to the database and bucket the function's own
    block configures, where the permissions block does not say otherwise."""
    implied: list[str] = []
    own_database = "db_driver" in draft.storage or "db_dsn" in draft.storage
    if own_database and database is not None and permissions.db is None:
        permissions = replace(permissions, db="write")
        implied.append("db write (its own db_driver/db_dsn)")
    own_bucket = "s3_bucket" in draft.storage
    if (
        own_bucket
        and blob_storage is not None
        and not (permissions.blob_read or permissions.blob_write)
    ):
        permissions = replace(permissions, blob_read=("*",), blob_write=("*",))
        implied.append(f"blob_read * and blob_write * (its own s3_bucket {blob_storage.bucket})")
    if implied:
        report.warn(
            directive,
            f"this {directive.name} function may use the storage its own block configures: "
            f"{' and '.join(implied)}; a permissions block line (db read, blob_read NAMESPACE) "
            "narrows it",
        )
    return permissions


def _report_repeat(
    sub: Directive, seen: dict[str, Directive], draft: _Draft, report: Diagnostics
) -> None:
    if sub.name in MODULE_FILE_DIRECTIVES:
        report.error(
            sub,
            f"the module file is given twice: as {draft.module_source} ({draft.module_text}) "
            f"and by {sub.name}",
        )
    else:
        report.error(
            sub, f"'{sub.name}' is set twice ({describe(seen[sub.name])} and {describe(sub)})"
        )


def _apply(
    sub: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics, block_name: str
) -> None:
    name = sub.name
    if name in NOT_YET_SUPPORTED:
        report.error(sub, f"'{name}' is not supported yet ({NOT_YET_SUPPORTED[name]})")
    elif name in _GLOBAL_ONLY:
        report.error(sub, f"'{name}' belongs in the global options block")
    elif name not in _USAGE:
        known = [*SUPPORTED, *NOT_YET_SUPPORTED, *_GLOBAL_ONLY]
        report.error(
            sub,
            f"unknown directive '{name}' in {block_name} block"
            + suggestion(name, known, SUPPORTED),
        )
    elif name == "env":
        _apply_env(sub, draft, report)
    elif name == "mount":
        _apply_mount(sub, draft, context, report)
        if len(sub.args) == 2 and block_name == "gojinn" and sub.args[1] in draft.mount_lines:
            host_dir, guest_dir = sub.args
            report.warn(
                sub,
                f"mount {host_dir} {guest_dir} is read-only here; Gojinn mounted it read-write: "
                f"write mount {host_dir} {guest_dir} rw for that",
            )
    elif name == "security":
        draft.security = build_security(sub, context.base_dir, report)
    elif name in JOB_DIRECTIVES:
        draft.jobs = apply_job_directive(sub, draft.jobs, report)
    elif name in TRIGGER_DIRECTIVES:
        trigger = build_trigger(sub, report, named=False)
        if trigger is not None:
            draft.triggers.append(trigger)
    elif name in WEBSOCKET_DIRECTIVES:
        draft.websocket = apply_websocket_directive(sub, draft.websocket, report)
        draft.websocket_lines.append(sub)
    elif name in BROKER_DIRECTIVES:
        draft.mqtt = apply_broker_setting(sub, draft.mqtt or context.mqtt, report)
    elif name == "permissions":
        draft.permissions_line = sub  # built last: Gojinn's s3_* grants depend on the bucket
    elif name in STORAGE_DIRECTIVES:
        value = build_storage_setting(sub, report)
        if value is not None:
            draft.storage[name] = value
            draft.storage_lines[name] = sub
    elif name in AI_DIRECTIVES:
        value = build_ai_setting(sub, report)
        if value is not None:
            draft.ai[name] = merge_ai_setting(draft.ai, name, value)
            draft.ai_lines.setdefault(name, sub)
    elif name == "ai_tool":
        draft.tool_line = sub
    elif name == RATE_LIMIT_DIRECTIVE:
        draft.rate_limit_line = sub
    elif name == CORS_ORIGIN:
        draft.cors_origin_lines.append(sub)
    elif name in CORS_DIRECTIVES:
        draft.cors_credentials_line = sub
    elif name == "api_key":
        api_key = build_api_key(sub, report, gojinn=block_name == "gojinn")
        if api_key is not None:
            draft.api_keys.append((api_key, sub))
    elif name == "tenant":
        draft.tenant = build_tenant(sub, report)
    elif name == "forward_credentials":
        draft.forward_credentials = build_forward_credentials(sub, report)
    elif name == "debug_secret":
        draft.debug_secret = build_debug_secret(sub, report, gojinn=block_name == "gojinn")
    elif name in CRASH_DIRECTIVES:
        draft.crash_settings.update(build_crash_setting(sub, context.base_dir, report) or {})
    elif name == "data_dir":
        _apply_data_dir(sub, draft, context, report, block_name)
    elif name == "args":
        if not sub.args:
            report.error(sub, _USAGE["args"])
        report.no_block(sub)
        draft.args = sub.args
    else:
        text = report.single_arg(sub, _USAGE[name])
        if text is not None:
            _apply_value(sub, text, draft, context, report)


def _apply_data_dir(
    sub: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics, block_name: str
) -> None:
    text = report.single_arg(sub, _USAGE["data_dir"])
    if text is None:
        return
    try:
        draft.data_dir = resolve(context.base_dir, text)
    except PathProblem as problem:
        report.error(sub, f"invalid data_dir {text}: {problem}")
        return
    if block_name == "gojinn":
        report.warn(
            sub,
            f"data_dir {text} in a gojinn block holds this function's SQLite files and embedded "
            "object store; Gojinn kept its JetStream store there, which pyjinn keeps in the "
            "global data_dir",
        )


def _apply_value(
    sub: Directive, text: str, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> None:
    """Parse and range-check the single argument of a scalar sub-directive."""
    name = sub.name
    if name in MODULE_FILE_DIRECTIVES:
        draft.module_text, draft.module_source, draft.module_line = text, f"'{name}'", sub
    elif name == "name":
        if _NAME.fullmatch(text):
            draft.name = text
        else:
            report.error(
                sub, f"invalid function name '{text}': use letters, digits, '_', '.' and '-'"
            )
    elif name in ("timeout", "pool_wait"):
        seconds = _parse(sub, text, parse_duration, "duration", report)
        if seconds is None:
            return
        if name == "timeout" and seconds <= 0:
            report.error(sub, f"timeout must be more than 0, got '{text}'")
        elif seconds < 0:
            report.error(sub, f"pool_wait must not be negative, got '{text}'")
        elif name == "timeout":
            draft.limits = replace(draft.limits, timeout=seconds)
        else:
            draft.pool_wait = seconds
    elif name in ("memory_limit", "stdout_limit", "stderr_limit", "max_body"):
        size = _parse(sub, text, parse_size, "size", report)
        if size is None:
            return
        if name == "memory_limit" and not MIN_MEMORY_LIMIT <= size <= MAX_MEMORY_LIMIT:
            report.error(sub, f"memory_limit must be between 64KiB and 4GiB, got '{text}'")
        elif name in ("stdout_limit", "stderr_limit") and size == 0:
            report.error(sub, f"{name} must be more than 0, got '{text}'")
        else:
            draft.limits = replace(draft.limits, **{name: size})
    else:
        _apply_count(sub, text, draft, context, report)


def _apply_count(
    sub: Directive, text: str, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> None:
    count = parse_count(text)
    if count is None or count == 0:
        report.error(
            sub, f"invalid number '{text}' for {sub.name}: expected a positive whole number"
        )
    elif sub.name == "fuel_limit":
        draft.limits = replace(draft.limits, fuel_limit=count)
    elif count > context.max_instances:
        report.error(
            sub,
            f"pool_size {count} is more than max_instances ({context.max_instances}); "
            "raise max_instances in the global options block or lower pool_size",
        )
    else:
        draft.pool_size = count


def _parse(
    sub: Directive, text: str, parser: Callable[[str], T], kind: str, report: Diagnostics
) -> T | None:
    try:
        return parser(text)
    except ValueError as exc:
        report.error(sub, f"invalid {kind} '{text}' for {sub.name}: {exc}")
        return None


def _apply_env(sub: Directive, draft: _Draft, report: Diagnostics) -> None:
    report.no_block(sub)
    if len(sub.args) != 2:
        report.error(sub, _USAGE["env"])
        return
    key, value = sub.args
    if not key or "=" in key or "\0" in key:
        report.error(sub, f"invalid env name '{key}': it must be non-empty, without '=' or NUL")
    elif "\0" in value:
        report.error(sub, f"the value of env {key} contains a NUL character")
    elif key in draft.env_lines:
        report.error(
            sub, f"env {key} is set twice ({describe(draft.env_lines[key])} and {describe(sub)})"
        )
    else:
        draft.env[key] = value
        draft.env_lines[key] = sub
        if 1 in sub.from_environment:
            draft.secret_env.add(key)


def _apply_mount(
    sub: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> None:
    report.no_block(sub)
    if len(sub.args) not in (2, 3, 4):
        report.error(sub, _USAGE["mount"])
        return
    host_text, guest_dir = sub.args[0], sub.args[1]
    mode = sub.args[2] if len(sub.args) >= 3 else "ro"
    option = sub.args[3] if len(sub.args) == 4 else None
    try:
        host_dir = resolve(context.base_dir, host_text)
        found = kind(host_dir)
    except PathProblem as problem:
        report.error(sub, f"invalid mount directory {host_text}: {problem}")
        return
    if found == "missing":
        report.error(sub, f"mount directory not found: {host_text}")
    elif found != "directory":
        report.error(sub, f"mount source is not a directory: {host_text}")
    elif not guest_dir.startswith("/"):
        report.error(sub, f"the guest directory must be absolute, like /data; got '{guest_dir}'")
    elif mode not in ("ro", "rw"):
        report.error(sub, f"invalid mount mode '{mode}': expected ro or rw")
    elif option is not None and (mode, option) != ("rw", "symlinks"):
        report.error(
            sub,
            f"unexpected '{option}' after mount mode {mode}: only a rw mount may add symlinks, "
            "like: mount ./data /data rw symlinks",
        )
    elif guest_dir in draft.mount_lines:
        report.error(
            sub,
            f"guest directory {guest_dir} is mounted twice "
            f"({describe(draft.mount_lines[guest_dir])} and {describe(sub)})",
        )
    else:
        draft.mounts[guest_dir] = Mount(
            host_dir, guest_dir, writable=mode == "rw", symlinks=option == "symlinks"
        )
        draft.mount_lines[guest_dir] = sub


def _check_symlinks_agree(draft: _Draft, report: Diagnostics) -> None:
    # The guest's symlink call cannot tell which mount it is aimed at, so the permission is the
    # function's: every rw mount must say the same.
    writable = [mount for mount in draft.mounts.values() if mount.writable]
    if len({mount.symlinks for mount in writable}) > 1:
        without = next(mount for mount in writable if not mount.symlinks)
        report.error(
            draft.mount_lines[without.guest_dir],
            "symlinks are allowed on another rw mount of this function but not on this one; "
            "a guest's symlink call cannot be told apart by mount, so add symlinks to every rw "
            "mount of the function or to none",
        )


def _module_path(
    directive: Directive, draft: _Draft, context: FunctionContext, report: Diagnostics
) -> Path | None:
    text = draft.module_text
    if text is None:
        report.error(
            directive,
            f"{directive.name} needs a module file, like: {directive.name} hello.wasm",
        )
        return None
    blame = draft.module_line or directive
    try:
        path = resolve(context.base_dir, text)
        found = kind(path) if path.suffix in MODULE_EXTENSIONS else None
    except PathProblem as problem:
        report.error(blame, f"invalid module file {text}: {problem}")
        return None
    if found is None:
        report.error(
            blame,
            f"expected a .wasm or .wat module (or a Python function's .py or .pyz), got {text}",
        )
    elif found == "missing":
        report.error(blame, f"module file not found: {text}")
    elif found == "directory":
        report.error(blame, f"expected a module file, but {text} is a directory")
    elif found == "other":
        report.error(blame, f"expected a module file, but {text} is not a regular file")
    else:
        return path
    return None
