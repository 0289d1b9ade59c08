"""The Python SDK probe for tests/sdk/test_probe.py: one handler whose request path picks what
it exercises (/request, /body, /respond, /bad-header, /log, /kv). Mirrors probe.c."""

import json

from pyjinn_guest import (
    HostError,
    Invalid,
    Level,
    Request,
    Response,
    kv_delete,
    kv_get,
    kv_list,
    kv_set,
    log,
)


def describe(request: Request) -> Response:
    return Response.json(
        {
            "body_length": len(request.body),
            "method": request.method,
            "uri": request.uri,
            "path": request.path,
            "remote_addr": request.remote_addr,
            "trace_id": request.trace_id,
            "tenant": request.tenant,
            "probe_header": request.header("x-PROBE"),
            "probe_headers": request.header_values("x-probe"),
            "absent_header": request.header("X-Absent"),
            "q": request.query_param("q"),
            "absent_query": request.query_param("Q"),
            "headers": [
                [name, value] for name, values in request.headers.items() for value in values
            ],
            "query": [[name, value] for name, values in request.query.items() for value in values],
        }
    )


def log_levels() -> Response:
    log("probe: debug", Level.DEBUG)
    log("probe: info")
    log("probe: warn", Level.WARN)
    log(b"probe: error, and not this"[:12], Level.ERROR)
    try:
        log("probe: a level the host refuses", 7)
    except Invalid as refused:
        return Response.text(refused.message, content_type="text/plain")
    return Response.text("the host accepted level 7")


def key_value(request: Request) -> Response:
    op, key = request.query_param("op"), request.query_param("key")
    status, body = "OK", b""
    try:
        if op == "get":
            body = kv_get(key)
        elif op == "set":
            kv_set(key, request.body)
        elif op == "delete":
            kv_delete(key)
        elif op == "list":
            body = json.dumps(kv_list(key)).encode()
        else:
            return Response(400, body="unknown op")
    except HostError as error:
        status, body = error.code.name, error.message.encode()
    headers = [("X-Status", status), ("Content-Type", "application/octet-stream")]
    return Response(200, headers, body)


def handle(request: Request) -> Response:
    path = request.path
    if path == "/request":
        return describe(request)
    if path == "/body":
        content_type = request.header("Content-Type", "text/plain")
        return Response(200, [("Content-Type", content_type)], request.body)
    if path == "/respond":
        headers = [
            ("X-Multi", "one"),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("x-multi", "two"),
            ("X-Quote", 'say "hi" \\ caf\xe9'),
        ]
        return Response(201, headers, 'line\n\t"quoted" \\ \x01 caf\xe9 \U0001f600')
    if path == "/bad-header":
        try:
            Response(200, [("X-Bad", "\udcff")]).encode()
        except Invalid as refused:
            return Response.text(refused.code.name, content_type="text/plain")
        return Response.text("accepted")
    if path == "/log":
        return log_levels()
    if path == "/kv":
        return key_value(request)
    return Response.text("no such probe", status=404)
