"""What every answer after routing gets: ``header`` rules applied around its own headers, and
``respond`` bodies with their placeholders filled in.

The order follows Caddy's: rules that are not deferred apply first, outermost block first; then
the answer's own headers replace fields of the same name (a function's ``Content-Type`` wins
over ``header Content-Type ...``); then deferred rules (``>``, ``-``, ``defer``) and defaults
(``?``), innermost first, so an outer deferred rule has the last word.

Values come from the Caddyfile and from the request (placeholders): a CR, LF or NUL in one is
replaced by a space, so no request can add a header line of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pyjinn.config.model import HeaderOperation, HeaderRule, Respond
from pyjinn.config.placeholders import RequestInfo
from pyjinn.server.asgi import Scope

Headers = list[tuple[bytes, bytes]]
_UNSAFE = str.maketrans({"\r": " ", "\n": " ", "\0": " "})
_TEXT = b"text/plain; charset=utf-8"


def request_info(scope: Scope, path: str, uri: str) -> RequestInfo:
    """What placeholders read from the request ``scope``; ``path`` and ``uri`` as the handler
    sees them."""
    client = scope.get("client") or ("", 0)
    query: bytes = scope.get("query_string", b"")
    return RequestInfo(
        method=scope["method"],
        uri=uri,
        path=path,
        query=query.decode("latin-1"),
        headers=scope["headers"],
        remote_host=str(client[0]),
        remote_port=str(client[1]) if client[1] else "",
        scheme=scope.get("scheme", "http"),
        proto=f"HTTP/{scope.get('http_version', '1.1')}",
    )


def needs_request(rules: Sequence[HeaderRule], respond: Respond | None) -> bool:
    """Whether answering needs a :class:`RequestInfo` (some value holds a placeholder)."""
    if respond is not None and respond.template is not None:
        return True
    return any(
        operation.value is not None and not operation.value.is_static
        for rule in rules
        for operation in (*rule.operations, *rule.defaults)
    )


def respond_body(respond: Respond, info: RequestInfo | None) -> tuple[bytes, Headers]:
    """A ``respond`` answer's body and its ``Content-Type`` (none for an empty body): JSON when
    the body is a JSON object or array, text otherwise, as Caddy decides."""
    text = respond.body if respond.template is None else respond.template.render(info)
    body = text.encode()
    if not body:
        return body, []
    content = text.strip()
    kind = _TEXT
    if len(content) > 2 and (content[0], content[-1]) in (("{", "}"), ("[", "]")):
        try:
            json.loads(content)
        except ValueError:
            pass
        else:
            kind = b"application/json"
    return body, [(b"content-type", kind)]


def with_rules(rules: Sequence[HeaderRule], own: Headers, info: RequestInfo | None) -> Headers:
    """The headers of an answer whose own headers are ``own``, after ``rules``."""
    if not rules:
        return own
    fields: list[tuple[str, str]] = []
    for rule in rules:
        if not rule.deferred:
            _apply(rule.operations, fields, info)
    own_names = {name.decode("latin-1").lower() for name, _ in own}
    fields = [field for field in fields if field[0] not in own_names]
    fields.extend((name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in own)
    for rule in reversed(rules):
        present = {name for name, _ in fields}
        if rule.defaults and not any(default.name in present for default in rule.defaults):
            _apply(rule.defaults, fields, info)
        if rule.deferred:
            _apply(rule.operations, fields, info)
    return [(name.encode("latin-1"), _encode(value)) for name, value in fields]


def _apply(
    operations: Sequence[HeaderOperation], fields: list[tuple[str, str]], info: RequestInfo | None
) -> None:
    """Apply one rule's operations as Caddy does: delete-all, then adds, sets, deletes."""
    if any(op.action == "delete" and op.name == "*" for op in operations):
        fields.clear()
    for op in operations:
        if op.action == "add":
            fields.append((op.name, _value(op, info)))
    for op in operations:
        if op.action in ("set", "default"):
            fields[:] = [field for field in fields if field[0] != op.name]
            fields.append((op.name, _value(op, info)))
    for op in operations:
        if op.action == "delete" and op.name != "*":
            fields[:] = [field for field in fields if not _deletes(op.name, field[0])]


def _deletes(pattern: str, name: str) -> bool:
    """Whether ``-pattern`` deletes field ``name`` (both lower case): ``*`` at either end
    matches any text there."""
    body = pattern.strip("*")
    if pattern.startswith("*") and pattern.endswith("*"):
        return body in name
    if pattern.startswith("*"):
        return name.endswith(body)
    if pattern.endswith("*"):
        return name.startswith(body)
    return name == pattern


def _value(operation: HeaderOperation, info: RequestInfo | None) -> str:
    if operation.value is None:
        return ""
    return operation.value.render(info).translate(_UNSAFE)


def _encode(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()
