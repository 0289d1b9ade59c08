"""Who may call a function and what it may touch: ``api_key``, ``tenant`` and ``permissions``.

::

    api_key {env.ACME_KEY} acme     # a key and the tenant it acts for; repeatable
    tenant default                  # the tenant of requests when no key is configured
    permissions {
        kv_read  users sessions     # namespaces: `users` grants `users` and `users/...`
        kv_write sessions
    }

``api_key`` and ``tenant`` may stand in the global options (for every function) and in a function
block; a function accepts its own keys and the global ones. Permissions are per function and deny
by default. Keys are kept only as SHA-256 digests, and messages never quote them.
"""

from __future__ import annotations

import re

from pyjinn.config.diagnostics import Diagnostics, describe, suggestion
from pyjinn.config.model import ApiKey, Permissions
from pyjinn.config.parser import Directive
from pyjinn.tenants import TENANT_NAME, key_digest

MIN_KEY_LENGTH = 16
API_KEY_USAGE = "api_key expects a key and a tenant name, like: api_key {env.ACME_KEY} acme"
TENANT_USAGE = "tenant expects one tenant name, like: tenant acme"
_NAMESPACE = re.compile(r"[A-Za-z0-9_\-.=]+(/[A-Za-z0-9_\-.=]+)*")
_GRANTS = ("kv_read", "kv_write")
# Gojinn's object storage grants: known, not built yet.
_NOT_YET = {"s3_read": "object storage", "s3_write": "object storage"}


def build_api_key(directive: Directive, report: Diagnostics) -> ApiKey | None:
    report.no_block(directive)
    if len(directive.args) == 1:
        report.error(
            directive,
            API_KEY_USAGE + " (Gojinn's one-argument form would use the key itself as the "
            "tenant name; pyjinn never puts keys in names)",
        )
        return None
    if len(directive.args) != 2:
        report.error(directive, API_KEY_USAGE)
        return None
    key, tenant = directive.args
    if len(key) < MIN_KEY_LENGTH:
        report.error(
            directive,
            f"the API key for tenant {tenant!r} is {len(key)} characters long; use at least "
            f"{MIN_KEY_LENGTH} random characters",
        )
        return None
    if not check_tenant(directive, tenant, report):
        return None
    return ApiKey(key_digest(key), tenant)


def build_tenant(directive: Directive, report: Diagnostics) -> str | None:
    name = report.single_arg(directive, TENANT_USAGE)
    if name is not None and check_tenant(directive, name, report):
        return name
    return None


def check_tenant(directive: Directive, name: str, report: Diagnostics) -> bool:
    if TENANT_NAME.fullmatch(name):
        return True
    report.error(
        directive,
        f"invalid tenant name {name!r}: use 1 to 64 of a-z, 0-9, '_' and '-'",
    )
    return False


def merge_api_keys(keys: list[tuple[ApiKey, Directive]], report: Diagnostics) -> tuple[ApiKey, ...]:
    """The keys, each once; the same key for two tenants is an error."""
    seen: dict[bytes, tuple[ApiKey, Directive]] = {}
    for api_key, directive in keys:
        earlier = seen.get(api_key.digest)
        if earlier is None:
            seen[api_key.digest] = (api_key, directive)
        elif earlier[0].tenant != api_key.tenant:
            report.error(
                directive,
                f"this API key already belongs to tenant {earlier[0].tenant!r} "
                f"({describe(earlier[1])}); a key identifies one tenant",
            )
    return tuple(api_key for api_key, _ in seen.values())


def build_permissions(directive: Directive, report: Diagnostics) -> Permissions | None:
    if directive.args or directive.block is None:
        report.error(
            directive,
            "permissions expects a block of grants, like: permissions { kv_read users }",
        )
        return None
    grants: dict[str, tuple[str, ...]] = {}
    lines: dict[str, Directive] = {}
    for line in directive.block:
        grant = line.name
        report.no_block(line)
        if grant in _NOT_YET:
            report.error(line, f"'{grant}' is not supported yet ({_NOT_YET[grant]})")
            continue
        if grant not in _GRANTS:
            report.error(
                line,
                f"unknown permission '{grant}'" + suggestion(grant, [*_GRANTS, *_NOT_YET], _GRANTS),
            )
            continue
        if grant in lines:
            report.error(
                line, f"'{grant}' is set twice ({describe(lines[grant])} and {describe(line)})"
            )
            continue
        if not line.args:
            report.error(line, f"{grant} expects one or more namespaces, like: {grant} users")
            continue
        bad = [name for name in line.args if name != "*" and not _NAMESPACE.fullmatch(name)]
        if bad:
            report.error(
                line,
                f"invalid namespace {bad[0]!r} for {grant}: use * or names of A-Z a-z 0-9 _ - . = "
                "separated by /, like users or users/admins",
            )
            continue
        grants[grant] = line.args
        lines[grant] = line
    return Permissions(**grants)
