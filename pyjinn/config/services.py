"""Global options for the services behind the capabilities (NATS, limits, pools).

::

    nats_url nats://10.0.0.5:4222 nats://10.0.0.6:4222   # an existing server or cluster
    nats_user pyjinn
    nats_password {env.NATS_PASSWORD}
    kv_max_value 1MiB
    db_pool_size 10          # PostgreSQL connections per process and database
    blob_max_size 32MiB      # the largest object a function may put or get

Without ``nats_url``, ``pyjinn up`` starts an embedded nats-server on 127.0.0.1 when a function
needs key-value storage. The password is a secret: it is never rendered or logged.
"""

from __future__ import annotations

from typing import Any

from pyjinn.config.access import build_tenant
from pyjinn.config.diagnostics import Diagnostics, parse_count
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_size

# Option name -> the GlobalOptions field it sets.
SERVICE_OPTIONS = {
    "tenant": "tenant",
    "nats_url": "nats_urls",
    "nats_user": "nats_user",
    "nats_password": "nats_password",
    "kv_max_value": "kv_max_value",
    "db_pool_size": "db_pool_size",
    "blob_max_size": "blob_max_size",
}
_URL_SCHEMES = ("nats://", "tls://")
MAX_KV_VALUE = 64 * 1024 * 1024
MAX_BLOB_SIZE = 4 * 1024 * 1024 * 1024  # a wasm32 guest cannot hold more
MAX_DB_POOL_SIZE = 1000


def build_service_option(option: Directive, report: Diagnostics) -> tuple[str, Any] | None:
    """The GlobalOptions field and value an option sets; None if it was wrong (reported)."""
    name = option.name
    field = SERVICE_OPTIONS[name]
    if name == "tenant":
        tenant = build_tenant(option, report)
        return (field, tenant) if tenant is not None else None
    if name == "nats_url":
        report.no_block(option)
        if not option.args:
            report.error(
                option, "nats_url expects one or more URLs, like: nats_url nats://host:4222"
            )
            return None
        bad = [url for url in option.args if not url.startswith(_URL_SCHEMES)]
        if bad:
            report.error(
                option, f"invalid NATS URL {bad[0]!r}: expected nats://host:port or tls://"
            )
            return None
        return field, tuple(option.args)
    if name == "db_pool_size":
        text = report.single_arg(option, "db_pool_size expects one number, like: db_pool_size 10")
        if text is None:
            return None
        count = parse_count(text)
        if count is None or not 0 < count <= MAX_DB_POOL_SIZE:
            report.error(
                option,
                f"invalid db_pool_size '{text}': expected a whole number from 1 to "
                f"{MAX_DB_POOL_SIZE}",
            )
            return None
        return field, count
    if name == "blob_max_size":
        text = report.single_arg(
            option, "blob_max_size expects one size, like: blob_max_size 32MiB"
        )
        if text is None:
            return None
        try:
            size = parse_size(text)
        except ValueError as error:
            report.error(option, f"invalid size '{text}' for blob_max_size: {error}")
            return None
        if not 0 < size <= MAX_BLOB_SIZE:
            report.error(option, f"blob_max_size must be between 1 byte and 4GiB, got '{text}'")
            return None
        return field, size
    if name == "kv_max_value":
        text = report.single_arg(option, "kv_max_value expects one size, like: kv_max_value 1MiB")
        if text is None:
            return None
        try:
            size = parse_size(text)
        except ValueError as error:
            report.error(option, f"invalid size '{text}' for kv_max_value: {error}")
            return None
        if not 0 < size <= MAX_KV_VALUE:
            report.error(option, f"kv_max_value must be between 1 byte and 64MiB, got '{text}'")
            return None
        return field, size
    text = report.single_arg(option, f"{name} expects one value, like: {name} VALUE")
    return (field, text) if text is not None else None
