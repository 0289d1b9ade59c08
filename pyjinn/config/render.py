"""A Config as plain JSON-able data, with paths relative to a base directory.

Golden tests compare this rendering, and it is what a human reads to check how a Caddyfile was
understood, so it shows every value (defaults included) and keeps routes in their final order.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from pyjinn.config.addresses import format_address
from pyjinn.config.model import (
    DEFAULT_KEEP_VERSIONS,
    AiSettings,
    ApiKey,
    Config,
    Cors,
    CrashRecords,
    FunctionSpec,
    HeaderOperation,
    HeaderRule,
    MeaningRoute,
    MqttBroker,
    RateLimit,
    Route,
    Site,
    StorageSettings,
    Triggers,
)
from pyjinn.config.storage import describe_blob_storage, describe_database, redact_dsn
from pyjinn.errors import Location
from pyjinn.signing.policy import TrustPolicy


def to_dict(config: Config, base_dir: Path | str) -> dict[str, Any]:
    """Render ``config``; file system paths are shown relative to ``base_dir``."""
    base = os.path.abspath(base_dir)

    def relative(path: Path) -> str:
        return Path(os.path.relpath(path, base)).as_posix()

    def function(spec: FunctionSpec) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "type": "function",
            "name": spec.name,
            "module": relative(spec.module_path),
            "location": _location(spec.location),
            "limits": {
                "timeout": spec.limits.timeout,
                "memory_limit": spec.limits.memory_limit,
                "fuel_limit": spec.limits.fuel_limit,
                "stdout_limit": spec.limits.stdout_limit,
                "stderr_limit": spec.limits.stderr_limit,
                "max_body": spec.limits.max_body,
            },
            "pool_size": spec.pool_size,
            "pool_wait": spec.pool_wait,
            "env": {key: value for key, value in spec.env},
            "args": list(spec.args),
            "debug_secret": "(set)" if spec.debug_secret else None,
            "mounts": [
                {
                    "host_dir": relative(mount.host_dir),
                    "guest_dir": mount.guest_dir,
                    "writable": mount.writable,
                    "symlinks": mount.symlinks,
                }
                for mount in spec.mounts
            ],
            "security": _security(spec.security),
            "permissions": {
                "kv_read": list(spec.permissions.kv_read),
                "kv_write": list(spec.permissions.kv_write),
                "db": spec.permissions.db,
                "blob_read": list(spec.permissions.blob_read),
                "blob_write": list(spec.permissions.blob_write),
                "jobs_enqueue": list(spec.permissions.jobs_enqueue),
            },
            "database": describe_database(spec.database, base),
            "blob_storage": describe_blob_storage(spec.blob_storage, base),
            "tenant": spec.tenant,
            "api_key_tenants": _key_tenants(spec.api_keys),
            "forward_credentials": list(spec.forward_credentials),
            "jobs": {
                "async": spec.jobs.always_async,
                "max_attempts": spec.jobs.max_attempts,
                "retry_backoff": [spec.jobs.retry_backoff, spec.jobs.retry_backoff_max],
            },
            "crash_records": crash_records(spec.crash_records),
            "secret_env": sorted(spec.secret_env),
        }
        # Shown only when set, so configurations without them render as before.
        if spec.permissions.ai:
            rendered["permissions"]["ai"] = True
        if spec.permissions.http:
            rendered["permissions"]["http"] = True
            rendered["allow_host"] = [str(entry) for entry in spec.egress.entries]
        if spec.permissions.lock:
            rendered["permissions"]["lock"] = list(spec.permissions.lock)
        if spec.ai is not None:
            rendered["ai"] = _ai(spec.ai)
        if spec.tool is not None:
            rendered["tool"] = {
                "name": spec.tool.name,
                "description": spec.tool.description,
                "schema": spec.tool.schema,
                "contract": spec.tool.contract,
            }
        # Shown only when there are some (as the options' mqtt below), so that configs
        # without triggers keep the form they had before triggers existed.
        if spec.triggers:
            rendered["triggers"] = _triggers(spec.triggers)
        if spec.rate_limit is not None:
            rendered["rate_limit"] = _rate_limit(spec.rate_limit)
        if spec.cors is not None:
            rendered["cors"] = _cors(spec.cors)
        if spec.permissions.websocket:
            rendered["permissions"]["websocket"] = True
            rendered["websocket"] = {
                "max_duration": spec.websocket.max_duration,
                "max_message": spec.websocket.max_message,
                "origins": list(spec.websocket.origins),
            }
        return rendered

    def crash_records(settings: CrashRecords) -> dict[str, Any]:
        return {
            "enabled": settings.enabled,
            "path": relative(settings.path),
            "max_records": settings.max_records,
            "max_bytes": settings.max_bytes,
            "sample": settings.sample,
        }

    def route(entry: Route) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "matcher": entry.matcher.pattern if entry.matcher else None,
            "location": _location(entry.location),
        }
        if entry.strip_prefix:
            rendered["strip_prefix"] = True
        if isinstance(entry.handler, FunctionSpec):
            rendered["handler"] = function(entry.handler)
        elif isinstance(entry.handler, MeaningRoute):
            targets = entry.handler.targets
            rendered["handler"] = {
                "type": "route_by_meaning",
                "targets": {target.function: list(target.texts) for target in targets},
                "threshold": entry.handler.threshold,
                "fallback": entry.handler.fallback,
                "field": entry.handler.field,
            }
        elif entry.handler is not None:
            rendered["handler"] = {
                "type": "respond",
                "status": entry.handler.status,
                "body": entry.handler.body,
            }
        else:
            rendered["routes"] = [route(child) for child in entry.routes]
        if entry.headers:
            rendered["headers"] = [_header_rule(rule) for rule in entry.headers]
        return rendered

    def site(block: Site) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "addresses": [format_address(address) for address in block.addresses],
            "location": _location(block.location),
            "routes": [route(entry) for entry in block.routes],
        }
        if block.mcp_path is not None:
            rendered["mcp_path"] = block.mcp_path
        if block.headers:
            rendered["headers"] = [_header_rule(rule) for rule in block.headers]
        return rendered

    options = config.options
    rendered: dict[str, Any] = {
        "options": {
            "admin": format_address(options.admin) if options.admin else None,
            "data_dir": relative(options.data_dir),
            "max_instances": options.max_instances,
            "tracing": {
                "mode": options.tracing.mode,
                "endpoint": options.tracing.endpoint,
                "sample": options.tracing.sample,
            },
            "security": _security(options.security),
            "tenant": options.tenant,
            "api_key_tenants": _key_tenants(options.api_keys),
            "nats_urls": list(options.nats_urls),
            "nats_user": options.nats_user,
            "nats_password": "(set)" if options.nats_password else None,
            "kv_max_value": options.kv_max_value,
            "storage": _storage(options.storage),
            "db_pool_size": options.db_pool_size,
            "blob_max_size": options.blob_max_size,
            "servers": {
                "read_header_timeout": options.servers.read_header_timeout,
                "read_body_timeout": options.servers.read_body_timeout,
                "idle_timeout": options.servers.idle_timeout,
                "max_connections": options.servers.max_connections,
            },
            "jobs": {
                "retention": options.jobs.retention,
                "max_queued": options.jobs.max_queued,
                "replicas": options.jobs.replicas,
            },
            "crash_records": crash_records(options.crash_records),
            # Shown only when set, so configurations without them render as before.
            **({"signing_key": relative(options.signing_key)} if options.signing_key else {}),
            **(
                {"keep_versions": options.keep_versions}
                if options.keep_versions != DEFAULT_KEEP_VERSIONS
                else {}
            ),
        },
        "sites": [site(block) for block in config.sites],
    }
    if options.mqtt != MqttBroker():
        rendered["options"]["mqtt"] = _broker(options.mqtt)
    if options.rate_limit is not None:
        rendered["options"]["rate_limit"] = _rate_limit(options.rate_limit)
    if options.cors is not None:
        rendered["options"]["cors"] = _cors(options.cors)
    if config.triggers:
        rendered["triggers"] = _triggers(config.triggers)
    if config.warnings:
        rendered["warnings"] = list(config.warnings)
    return rendered


def _triggers(triggers: Triggers) -> dict[str, Any]:
    return {
        "cron": [
            {
                "function": cron.function,
                "schedule": cron.schedule,
                "catch_up": cron.catch_up,
                "location": _location(cron.location),
            }
            for cron in triggers.cron
        ],
        "mqtt": [
            {
                "function": mqtt.function,
                "topic": mqtt.topic,
                "broker": _broker(mqtt.broker),
                "location": _location(mqtt.location),
            }
            for mqtt in triggers.mqtt
        ],
        "nats": [
            {
                "function": nats.function,
                "subject": nats.subject,
                "location": _location(nats.location),
            }
            for nats in triggers.nats
        ],
    }


def _broker(broker: MqttBroker) -> dict[str, Any]:
    return {
        "url": broker.url or "(embedded)",
        "client_id": broker.client_id,
        "username": broker.username,
        "password": "(set)" if broker.password else None,
    }


def _header_rule(rule: HeaderRule) -> dict[str, Any]:
    def operation(op: HeaderOperation) -> str:
        value = f" {op.value.text}" if op.value is not None and op.action != "delete" else ""
        return f"{op.action} {op.name}{value}"

    return {
        "matcher": rule.matcher.pattern if rule.matcher else None,
        "location": _location(rule.location),
        "after_routes": rule.position,
        "deferred": rule.deferred,
        "operations": [operation(op) for op in rule.operations],
        "defaults": [operation(op) for op in rule.defaults],
    }


def _storage(settings: StorageSettings) -> dict[str, Any]:
    # As written, secrets hidden: a PostgreSQL connection string may hold a password.
    dsn = settings.db_dsn
    if dsn is not None and settings.db_driver not in ("sqlite", "libsql"):
        with contextlib.suppress(ValueError):  # else a file path (the driver is per function)
            dsn = redact_dsn(dsn)
    return {
        "db_driver": settings.db_driver,
        "db_dsn": dsn,
        "s3_endpoint": settings.s3_endpoint,
        "s3_region": settings.s3_region,
        "s3_bucket": settings.s3_bucket,
        "s3_access_key": "(set)" if settings.s3_access_key else None,
        "s3_secret_key": "(set)" if settings.s3_secret_key else None,
    }


def _ai(settings: AiSettings) -> dict[str, Any]:
    cache = settings.cache
    return {
        "provider": settings.provider,
        "endpoint": settings.endpoint,
        "model": settings.model,
        "token": "(set)" if settings.token else None,
        "allow_host": [str(entry) for entry in settings.allow.entries],
        "tokens_per_minute": settings.tokens_per_minute,
        "cache": None
        if cache is None
        else {
            "mode": cache.mode,
            "threshold": cache.threshold,
            "ttl": cache.ttl,
            "max_entries": cache.max_entries,
        },
    }


def _security(policy: TrustPolicy) -> dict[str, Any]:
    # Keys by key id: enough to tell them apart, and the same id the logs and CLI show.
    return {"policy": policy.mode, "trusted_keys": list(policy.key_ids)}


def _key_tenants(keys: tuple[ApiKey, ...]) -> list[str]:
    # Keys themselves are never rendered, nor their digests (a weak key could be guessed back).
    return [key.tenant for key in keys]


def _location(location: Location | None) -> str | None:
    return str(location) if location else None


def _rate_limit(limit: RateLimit) -> dict[str, Any]:
    return {"rate": limit.rate, "burst": limit.burst}


def _cors(cors: Cors) -> dict[str, Any]:
    return {"origins": list(cors.origins), "credentials": cors.credentials}
