"""Who may call a function and what it may touch: ``api_key``, ``tenant`` and ``permissions``.

::

    api_key {env.ACME_KEY} acme     # a key and the tenant it acts for; repeatable
    api_key {env.OTHER_KEY}         # Gojinn's form: the tenant is named after a hash of the key
    tenant default                  # the tenant of requests when no key is configured
    forward_credentials Authorization   # credential headers the function receives (function only)
    permissions {
        kv_read  users sessions     # namespaces: `users` grants `users` and `users/...`
        kv_read  last*              # a glob: every key starting with `last`
        kv_write sessions
        db read                     # SQL: read, or write (which includes read)
        blob_read  photos           # object storage, namespaces as for kv
        blob_write photos/uploads
        ai                          # the model and local embeddings (see pyjinn.config.ai)
        http                        # outbound HTTP to allow_host's hosts (pyjinn.config.egress)
        lock jobs                   # locks, namespaces as for kv
        websocket                   # take over WebSocket connections (pyjinn.config.websocket)
    }

``api_key`` and ``tenant`` may stand in the global options (for every function) and in a function
block; a function accepts its own keys and the global ones. Permissions are per function and deny
by default. Keys are kept only as SHA-256 digests, and messages never quote them.

``s3_read``/``s3_write`` are Gojinn's spelling of ``blob_read``/``blob_write``. Gojinn checked
them against the bucket name, so there an argument naming the function's ``s3_bucket`` grants
the whole bucket (``*``); any other argument is a namespace.

Credential headers never reach a function unless it names them with ``forward_credentials``
(no argument: all of them); see ``pyjinn.tenants``.
"""

from __future__ import annotations

import hashlib
import re

from pyjinn.config.diagnostics import Diagnostics, describe, suggestion
from pyjinn.config.model import ApiKey, Permissions
from pyjinn.config.parser import Directive
from pyjinn.tenants import CREDENTIAL_HEADERS, TENANT_NAME, key_digest

MIN_KEY_LENGTH = 16
API_KEY_USAGE = (
    "api_key expects a key and optionally a tenant name, like: api_key {env.ACME_KEY} acme"
)
TENANT_USAGE = "tenant expects one tenant name, like: tenant acme"
_CREDENTIAL_NAMES = tuple(CREDENTIAL_HEADERS.values())
FORWARD_CREDENTIALS_USAGE = (
    "forward_credentials expects no argument (every credential header) or some of "
    f"{', '.join(_CREDENTIAL_NAMES)}, like: forward_credentials Authorization"
)
_FUNCTION = re.compile(r"[A-Za-z0-9_.-]+")
# A namespace (`users`, `users/admins`), or a glob ending in `*` (`last*`: every key that starts
# with `last`).
_NAMESPACE = re.compile(r"[A-Za-z0-9_\-.=]+(/[A-Za-z0-9_\-.=]+)*(/?\*)?")
_GRANTS = ("kv_read", "kv_write", "db", "blob_read", "blob_write", "jobs_enqueue", "ai", "http",
           "lock", "websocket")  # fmt: skip
# Gojinn's spelling of the object storage grants.
_ALIASES = {"s3_read": "blob_read", "s3_write": "blob_write"}
_DB_ACCESS = ("read", "write")


def build_api_key(
    directive: Directive, report: Diagnostics, *, gojinn: bool = False
) -> ApiKey | None:
    """The key of an ``api_key KEY [TENANT]`` line; None if it was wrong (reported).

    Without a tenant (Gojinn's form), the tenant is named after a hash of the key, never the
    key itself. A key shorter than ``MIN_KEY_LENGTH`` is refused, except in a ``gojinn`` block,
    where it loads with a warning (``gojinn``)."""
    report.no_block(directive)
    if len(directive.args) not in (1, 2):
        report.error(directive, API_KEY_USAGE)
        return None
    key = directive.args[0]
    tenant = directive.args[1] if len(directive.args) == 2 else key_tenant(key)
    if len(key) < MIN_KEY_LENGTH:
        message = (
            f"the API key for tenant {tenant!r} is {len(key)} characters long; use at least "
            f"{MIN_KEY_LENGTH} random characters"
        )
        if not gojinn:
            report.error(directive, message)
            return None
        report.warn(
            directive, f"{message} (loaded because this is a gojinn block: it can be guessed)"
        )
    if not check_tenant(directive, tenant, report):
        return None
    return ApiKey(key_digest(key), tenant)


def key_tenant(key: str) -> str:
    """The tenant of a key given without one: ``key-`` and 16 hex digits of a hash of the key,
    so names, logs and storage never hold the key (Gojinn used the key itself)."""
    return "key-" + hashlib.sha256(b"pyjinn tenant of api_key\0" + key.encode()).hexdigest()[:16]


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


def build_forward_credentials(directive: Directive, report: Diagnostics) -> tuple[str, ...]:
    """The credential headers a function receives, in their usual spelling; () if the
    directive was wrong (reported)."""
    report.no_block(directive)
    if not directive.args:
        return _CREDENTIAL_NAMES
    by_lower_name = {name.lower(): name for name in _CREDENTIAL_NAMES}
    chosen: set[str] = set()
    for text in directive.args:
        name = by_lower_name.get(text.lower())
        if name is None:
            report.error(
                directive,
                f"forward_credentials: '{text}' is not a credential header; expected "
                f"{', '.join(_CREDENTIAL_NAMES)} (every other header, Cookie included, always "
                "reaches the function)",
            )
            return ()
        if name in chosen:
            report.error(directive, f"forward_credentials names {name} twice")
            return ()
        chosen.add(name)
    return tuple(name for name in _CREDENTIAL_NAMES if name in chosen)


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


def build_permissions(
    directive: Directive, report: Diagnostics, *, bucket: str | None = None, gojinn: bool = False
) -> Permissions | None:
    """The grants of a permissions block; ``bucket`` is the function's ``s3_bucket`` (for
    Gojinn's ``s3_read``/``s3_write``). In a ``gojinn`` block (``gojinn``), key-value grants
    whose meaning differs from Gojinn's (a bare prefix there) are named in a warning."""
    if directive.args or directive.block is None:
        report.error(
            directive,
            "permissions expects a block of grants, like: permissions { kv_read users }",
        )
        return None
    grants: dict[str, tuple[str, ...]] = {}
    lines: dict[str, Directive] = {}
    db: str | None = None
    ai = False
    http = False
    websocket = False
    for line in directive.block:
        spelled = line.name
        grant = _ALIASES.get(spelled, spelled)
        report.no_block(line)
        if grant not in _GRANTS:
            report.error(
                line,
                f"unknown permission '{spelled}'"
                + suggestion(spelled, [*_GRANTS, *_ALIASES], _GRANTS),
            )
            continue
        if grant in lines:
            report.error(
                line,
                f"'{grant}' is set twice ({describe(lines[grant])} and {describe(line)})"
                + (f" ({spelled} is another name for {grant})" if spelled != grant else ""),
            )
            continue
        if grant == "jobs_enqueue":
            if not line.args or not all(
                name == "*" or _FUNCTION.fullmatch(name) for name in line.args
            ):
                report.error(
                    line,
                    "jobs_enqueue expects the names of functions it may enqueue jobs for (or *), "
                    "like: jobs_enqueue report",
                )
                continue
            grants[grant] = line.args
            lines[grant] = line
            continue
        if grant == "ai":
            if line.args:
                report.error(line, "ai takes no argument, like: ai")
                continue
            ai = True
            lines[grant] = line
            continue
        if grant == "http":
            if line.args:
                report.error(
                    line,
                    "http takes no argument (allow_host lists the hosts), like: http",
                )
                continue
            http = True
            lines[grant] = line
            continue
        if grant == "websocket":
            if line.args:
                report.error(line, "websocket takes no argument, like: websocket")
                continue
            websocket = True
            lines[grant] = line
            continue
        if grant == "db":
            if len(line.args) != 1 or line.args[0] not in _DB_ACCESS:
                report.error(line, "db expects read or write, like: db read")
                continue
            db = line.args[0]
            lines[grant] = line
            continue
        if not line.args:
            report.error(line, f"{grant} expects one or more namespaces, like: {grant} users")
            continue
        bad = [name for name in line.args if name != "*" and not _NAMESPACE.fullmatch(name)]
        if bad:
            report.error(
                line,
                f"invalid namespace {bad[0]!r} for {grant}: use * or names of A-Z a-z 0-9 _ - . = "
                "separated by /, like users or users/admins, or a prefix ending in *, like last*",
            )
            continue
        namespaces = line.args
        if gojinn and grant in ("kv_read", "kv_write"):
            _warn_changed_prefixes(line, spelled, namespaces, report)
        if spelled in _ALIASES and bucket is not None:
            namespaces = tuple("*" if name == bucket else name for name in namespaces)
        grants[grant] = namespaces
        lines[grant] = line
    return Permissions(db=db, ai=ai, http=http, websocket=websocket, **grants)


def _warn_changed_prefixes(
    line: Directive, grant: str, namespaces: tuple[str, ...], report: Diagnostics
) -> None:
    """Gojinn granted every key starting with a kv_read/kv_write argument; pyjinn grants a
    namespace (the key and the keys below it). Say which arguments changed meaning."""
    changed = [name for name in namespaces if not name.endswith("*")]
    if not changed:
        return
    shown = ", ".join(f"{name} (and {name}/...)" for name in changed)
    globs = " ".join(f"{name}*" if name in changed else name for name in namespaces)
    report.warn(
        line,
        f"{grant} in a gojinn block grants {shown}; Gojinn granted every key starting with "
        f"{' or '.join(repr(name) for name in changed)}: write {grant} {globs} for that",
    )
