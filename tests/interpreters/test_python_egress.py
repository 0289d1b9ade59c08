"""The Python SDK's outbound HTTP and locks, through the interpreter's bridge to the same host
functions compiled guests call: a real HTTP server on loopback (listed in allow_host) and a
real nats-server behind the locks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from pyjinn.engine.invoke import invoke
from tests.servers import ScriptedHttp

pytestmark = pytest.mark.slow

REQUEST = json.dumps(
    {"method": "GET", "uri": "/", "path": "/", "query": {}, "headers": {}, "body": ""}
).encode()

HANDLER = """
import json
from pyjinn_guest import Busy, Denied, NotFound, http_request, lock_acquire, lock_release

def handle(request):
    url = "http://127.0.0.1:PORT/echo"
    answer = http_request("POST", url, {"X-Token": "abc", "Accept": ["a", "b"]}, b"payload")
    echoed = answer.json()
    try:
        http_request("GET", "http://169.254.169.254/")
        denied = False
    except Denied:
        denied = True
    token = lock_acquire("jobs/python", 30)
    try:
        lock_acquire("jobs/python", 30)
        busy = False
    except Busy:
        busy = True
    lock_release("jobs/python", token)
    try:
        lock_release("jobs/python", token)
        released_twice = True
    except NotFound:
        released_twice = False
    return {
        "status": answer.status,
        "echo_header": answer.header("X-Echo"),
        "method": echoed["method"],
        "token_header": dict(echoed["headers"])["x-token"],
        "denied": denied,
        "token_length": len(token),
        "busy": busy,
        "released_twice": released_twice,
    }
"""


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


def test_the_python_sdk_sends_requests_and_takes_locks(
    make_runtime, project, python_loader, kv_services, scripted: ScriptedHttp
) -> None:
    project("fn.py", HANDLER.replace("PORT", str(scripted.port)))
    runtime = make_runtime(
        f""":8080 {{
            pyjinn fn.py {{
                allow_host 127.0.0.1:{scripted.port}
                permissions {{
                    http
                    lock jobs
                }}
            }}
        }}""",
        loader=python_loader,
        services=kv_services,
    )
    function = runtime.functions["fn"]
    tenant = f"t{uuid.uuid4().hex[:10]}"
    run = invoke(runtime.engine, function.module, function.sandbox, REQUEST, tenant=tenant)
    assert run.error is None, (run.error, run.stderr)
    assert json.loads(json.loads(run.stdout)["body"]) == {
        "status": 200,
        "echo_header": "one",
        "method": "POST",
        "token_header": "abc",
        "denied": True,
        "token_length": 32,
        "busy": True,
        "released_twice": False,
    }
