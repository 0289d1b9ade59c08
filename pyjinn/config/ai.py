"""The model a function may call, its egress, budgets and cache: the ``ai_*`` and ``allow_host``
directives; and ``ai_tool``, which makes a function an MCP tool.

::

    ai_provider openai                  # openai (default) or ollama: both speak OpenAI's chat API
    ai_endpoint http://127.0.0.1:8000/v1   # a base URL, or the full .../chat/completions URL
    ai_model gemma-3-270m
    ai_token {env.OPENAI_API_KEY}       # sent as Authorization: Bearer; a secret
    allow_host 127.0.0.1:8000 api.openai.com   # the exact hosts model calls may reach
    ai_tokens_per_minute 20000          # per tenant; answered with BUDGET when spent
    ai_cache semantic 0.95 1h 1000      # exact|semantic [THRESHOLD] [TTL] [MAX_ENTRIES], or off

Each may stand in the global options (for every function) and in a function block, where it
replaces the global value. A function may call the model only when granted: ``permissions { ai }``,
or ``ai_provider``/``ai_endpoint`` in its own block. ``allow_host`` defaults to the endpoint's own
host and port; when given, it must cover the endpoint (checked here, at load).

::

    ai_tool {
        name lookup_invoice                 # default: the function's name
        description "Find an invoice by number"
        schema `{"type": "object", "properties": {"number": {"type": "string"}}}`
        contract pyjinn                     # pyjinn (envelope) or gojinn (bare arguments)
    }

``schema`` is inline JSON in backticks (no escapes inside) or a file next to the Caddyfile.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pyjinn.config.diagnostics import Diagnostics, describe, parse_count, suggestion
from pyjinn.config.model import AiCache, AiSettings, AiTool, Permissions
from pyjinn.config.parser import Directive
from pyjinn.config.units import parse_duration
from pyjinn.egress import AllowList
from pyjinn.extras import MissingExtra, require_embeddings

AI_DIRECTIVES = (
    "ai_provider",
    "ai_endpoint",
    "ai_model",
    "ai_token",
    "allow_host",
    "ai_tokens_per_minute",
    "ai_cache",
)
# Provider: (default endpoint, default model). Gojinn's defaults; ollama needs a model named.
PROVIDERS: dict[str, tuple[str, str | None]] = {
    "openai": ("https://api.openai.com/v1/chat/completions", "gpt-3.5-turbo"),
    "ollama": ("http://localhost:11434/v1/chat/completions", None),
}
CHAT_PATH = "/chat/completions"
CACHE_MODES = ("exact", "semantic", "off")
DEFAULT_CACHE = AiCache("exact")
TOOL_CONTRACTS = ("pyjinn", "gojinn")
TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# Directives whose presence in a function's own block grants it the model.
_GRANTING = ("ai_provider", "ai_endpoint")

USAGE = {
    "ai_provider": "ai_provider expects openai or ollama, like: ai_provider openai",
    "ai_endpoint": "ai_endpoint expects one http:// or https:// URL, like: "
    "ai_endpoint http://127.0.0.1:8000/v1",
    "ai_model": "ai_model expects one model name, like: ai_model gpt-4o-mini",
    "ai_token": "ai_token expects one token, like: ai_token {env.OPENAI_API_KEY}",
    "allow_host": "allow_host expects one or more hosts, like: allow_host api.openai.com "
    "127.0.0.1:8000",
    "ai_tokens_per_minute": "ai_tokens_per_minute expects one positive whole number, like: "
    "ai_tokens_per_minute 20000",
    "ai_cache": "ai_cache expects exact [TTL] [MAX_ENTRIES], semantic [THRESHOLD] [TTL] "
    "[MAX_ENTRIES], or off, like: ai_cache semantic 0.95 1h 1000",
}
TOOL_USAGE = (
    "ai_tool expects a block of name, description, schema and contract lines, like: "
    "ai_tool { name lookup }"
)
_TOOL_LINES = ("name", "description", "schema", "contract")


def build_ai_setting(directive: Directive, report: Diagnostics) -> Any:
    """The checked value of one ``ai_*``/``allow_host`` directive; None if it was wrong
    (reported). ``ai_cache off`` is ``False``."""
    name = directive.name
    report.no_block(directive)
    if name == "allow_host":
        if not directive.args:
            report.error(directive, USAGE[name])
            return None
        try:
            return AllowList.parse(directive.args)
        except ValueError as error:
            report.error(directive, f"invalid allow_host entry {error}")
            return None
    if name == "ai_cache":
        return _cache(directive, report)
    if len(directive.args) != 1 or not directive.args[0]:
        report.error(directive, USAGE[name])
        return None
    text = directive.args[0]
    if name == "ai_provider":
        if text.lower() not in PROVIDERS:
            report.error(directive, f"unknown ai_provider '{text}': expected openai or ollama")
            return None
        return text.lower()
    if name == "ai_endpoint":
        return _endpoint(directive, text, report)
    if name == "ai_tokens_per_minute":
        count = parse_count(text)
        if not count:
            report.error(
                directive,
                f"invalid number '{text}' for ai_tokens_per_minute: "
                "expected a positive whole number",
            )
            return None
        return count
    return text


def merge_ai_setting(values: dict[str, Any], name: str, value: Any) -> Any:
    """``value`` as it adds to ``values`` in one block: ``allow_host`` lines add up, the others
    are set once (a repeat is reported by the caller)."""
    previous = values.get(name)
    if name == "allow_host" and previous is not None:
        return AllowList(previous.entries + value.entries)
    return value


def _endpoint(directive: Directive, text: str, report: Diagnostics) -> str | None:
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        report.error(directive, f"invalid ai_endpoint '{text}': the port is not a number 1-65535")
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.error(
            directive,
            f"invalid ai_endpoint '{text}': expected http:// or https:// and "
            "a host, like http://127.0.0.1:8000/v1",
        )
        return None
    if parts.username or parts.query or parts.fragment:
        report.error(
            directive,
            f"invalid ai_endpoint '{text}': give no credentials, query or "
            "fragment (the token goes in ai_token)",
        )
        return None
    path = parts.path.rstrip("/")
    if not path.endswith(CHAT_PATH):
        path += CHAT_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _cache(directive: Directive, report: Diagnostics) -> AiCache | bool | None:
    args = directive.args
    if not args or args[0] not in CACHE_MODES:
        report.error(directive, USAGE["ai_cache"])
        return None
    mode, rest = args[0], list(args[1:])
    if mode == "off":
        if rest:
            report.error(directive, "ai_cache off takes no other argument")
            return None
        return False
    if mode == "semantic":
        try:
            require_embeddings()
        except MissingExtra as missing:
            report.error(directive, str(missing))
            return None
    cache = AiCache(mode)
    if mode == "semantic" and rest:
        try:
            threshold = float(rest[0])
        except ValueError:
            threshold = -1.0
        if not 0 < threshold <= 1:
            report.error(
                directive,
                f"invalid ai_cache threshold '{rest[0]}': expected a cosine "
                "similarity above 0 and at most 1, like 0.95",
            )
            return None
        cache = AiCache(mode, threshold=threshold)
        rest = rest[1:]
    if len(rest) > 2:
        report.error(directive, USAGE["ai_cache"])
        return None
    ttl, max_entries = cache.ttl, cache.max_entries
    if rest:
        try:
            ttl = parse_duration(rest[0])
        except ValueError as error:
            report.error(directive, f"invalid ai_cache TTL '{rest[0]}': {error}")
            return None
        if ttl <= 0:
            report.error(directive, f"ai_cache TTL must be more than 0, got '{rest[0]}'")
            return None
    if len(rest) == 2:
        count = parse_count(rest[1])
        if not count:
            report.error(
                directive,
                f"invalid ai_cache MAX_ENTRIES '{rest[1]}': expected a positive whole number",
            )
            return None
        max_entries = count
    return AiCache(mode, threshold=cache.threshold, ttl=ttl, max_entries=max_entries)


def may_call_model(permissions: Permissions, own: dict[str, Directive]) -> bool:
    """Whether a function may call the model: ``permissions { ai }``, or a directive in its own
    block (``own``) that grants it."""
    return permissions.ai or any(name in own for name in _GRANTING)


def resolve_ai(
    values: dict[str, Any],
    lines: dict[str, Directive],
    own: dict[str, Directive],
    *,
    permissions: Permissions,
    function_line: Directive,
    report: Diagnostics,
) -> AiSettings | None:
    """A function's model settings: ``values`` are the merged (function over global) settings,
    ``lines`` where each was written, ``own`` those of the function's block. None when the
    function may not call the model (or an error was reported)."""
    # allow_host is also the http grant's list: pyjinn.config.egress reports it when unused.
    own = {name: line for name, line in own.items() if name != "allow_host"}
    if not may_call_model(permissions, own):
        if own:
            first = next(iter(own.values()))
            report.error(
                first,
                f"{first.name} configures the model, but this function may not call it: add "
                "permissions { ai }, or ai_provider in this block",
            )
        return None
    provider: str = values.get("ai_provider", "openai")
    if "ai_provider" not in values and "ai_endpoint" not in values:
        report.error(
            function_line,
            "this function may call the model (permissions { ai }), but no ai_provider or "
            "ai_endpoint is set here or in the global options",
        )
        return None
    default_endpoint, default_model = PROVIDERS[provider]
    endpoint: str = values.get("ai_endpoint", default_endpoint)
    model: str | None = values.get("ai_model", default_model)
    if model is None:
        report.error(
            lines.get("ai_provider", function_line),
            f"ai_provider {provider} needs an ai_model, like: ai_model llama3.2",
        )
        return None
    allow: AllowList | None = values.get("allow_host")
    if allow is None:
        allow = AllowList.parse([_host_and_port(endpoint)])
    else:
        denial = allow.denial(endpoint)
        if denial is not None:
            blame = lines.get("ai_endpoint", lines["allow_host"])
            report.error(blame, f"ai_endpoint {endpoint} is not covered by allow_host: {denial}")
            return None
    cache = values.get("ai_cache", DEFAULT_CACHE)
    return AiSettings(
        provider=provider,
        endpoint=endpoint,
        model=model,
        allow=allow,
        token=values.get("ai_token"),
        tokens_per_minute=values.get("ai_tokens_per_minute"),
        cache=cache or None,
    )


def _host_and_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_ai_tool(
    directive: Directive,
    *,
    function_name: str,
    default_contract: str,
    base_dir: Path,
    report: Diagnostics,
) -> AiTool | None:
    """The tool an ``ai_tool`` block describes; None if it was wrong (reported)."""
    if directive.args or directive.block is None:
        report.error(directive, TOOL_USAGE)
        return None
    seen: dict[str, Directive] = {}
    values: dict[str, str] = {}
    for line in directive.block:
        if line.name not in _TOOL_LINES:
            report.error(
                line,
                f"unknown line '{line.name}' in ai_tool"
                + suggestion(line.name, _TOOL_LINES, _TOOL_LINES),
            )
            continue
        if line.name in seen:
            report.error(
                line,
                f"'{line.name}' is set twice ({describe(seen[line.name])} and {describe(line)})",
            )
            continue
        seen[line.name] = line
        report.no_block(line)
        if len(line.args) != 1:
            report.error(
                line,
                f"{line.name} expects one value in ai_tool, like: " + _TOOL_EXAMPLES[line.name],
            )
        else:
            values[line.name] = line.args[0]
    name = values.get("name", function_name)
    if not TOOL_NAME.fullmatch(name):
        report.error(
            seen.get("name", directive),
            f"invalid tool name '{name}': use 1 to 128 of A-Z a-z 0-9 _ - .",
        )
        return None
    contract = values.get("contract", default_contract)
    if contract not in TOOL_CONTRACTS:
        report.error(
            seen["contract"],
            f"unknown contract '{contract}': expected pyjinn (the "
            "request envelope) or gojinn (the bare arguments on stdin)",
        )
    schema = _schema(values.get("schema"), seen.get("schema"), base_dir, report)
    if schema is None or contract not in TOOL_CONTRACTS:
        return None
    description = values.get("description") or f"The pyjinn function {function_name}."
    return AiTool(name=name, description=description, schema=schema, contract=contract)


_TOOL_EXAMPLES = {
    "name": "name lookup_invoice",
    "description": 'description "Find an invoice by number"',
    "contract": "contract gojinn",
    "schema": 'schema `{"type": "object"}` (inline JSON in backticks) or schema tool.json',
}


def _schema(
    text: str | None, line: Directive | None, base_dir: Path, report: Diagnostics
) -> str | None:
    """The tool's input schema as compact JSON text, checked; a missing one takes any object."""
    if text is None or line is None:
        return '{"type":"object"}'
    source = "schema"
    if not text.lstrip().startswith("{"):
        path = base_dir / text
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            report.error(line, f"cannot read schema file {line.args[0]}: {reason}")
            return None
        source = f"schema file {line.args[0]}"
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        report.error(line, f"{source} is not valid JSON: {error.msg} at column {error.colno}")
        return None
    if not isinstance(schema, dict) or schema.get("type") != "object":
        report.error(
            line,
            f'{source} must be a JSON Schema object with "type": "object" '
            "(MCP tools take an object of arguments)",
        )
        return None
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        report.error(line, f"{source} is not a valid JSON Schema: {error.message}")
        return None
    return json.dumps(schema, separators=(",", ":"))
