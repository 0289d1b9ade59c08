"""The Rust and Go SDKs decode the request themselves (std only; Go's without reflection): what
pyjinn sends always decodes, and what it never sends is answered 400 by ``run`` instead of
crashing the function. Driven through the engine directly, with stdin as given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyjinn import contract
from pyjinn.config.model import Limits
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from tests.sdk.support import build_go, build_rust

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
BUILDERS = {"rust": (build_rust, "probe.rs"), "go": (build_go, "probe.go")}


@pytest.fixture(scope="module", params=list(BUILDERS))
def probe(request: pytest.FixtureRequest) -> Path:
    build, source = BUILDERS[request.param]
    return build((HERE / source).read_text())


def answer(loader: ModuleLoader, probe: Path, stdin: bytes) -> tuple[int, bytes]:
    loader.engine.start()
    module = loader.load(probe)
    run = invoke(loader.engine, module, Sandbox(loader.engine, Limits()), stdin)
    assert run.error is None, (run.error, run.stderr)
    response = contract.decode_response(run.stdout)
    return response.status, response.body


def describe(loader: ModuleLoader, probe: Path, envelope: object) -> dict[str, object]:
    status, body = answer(loader, probe, json.dumps(envelope).encode())
    assert status == 200, body
    seen = json.loads(body)
    assert isinstance(seen, dict)
    return seen


@pytest.mark.parametrize(
    "stdin",
    [
        b"",
        b"not json",
        b"[]",
        b'{"path": "/request"',
        b'{"path": "/request"} trailing',
        b'{"path": 7}',
        b'{"path": "/request", "headers": {"X": [1]}}',
        b'{"path": "/request", "query": ["a"]}',
        b'{"path": "/request", "body": "x", "body_encoding": "gzip"}',
        b'{"path": "/request", "body": "not base64!", "body_encoding": "base64"}',
        b'{"path": "/request", "body": "bad \\x escape"}',
        b'{"path": "/request", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=[
        "empty",
        "text",
        "array",
        "truncated",
        "trailing-text",
        "number-path",
        "number-header",
        "array-query",
        "unknown-encoding",
        "bad-base64",
        "bad-escape",
        "deeply-nested",
    ],
)
def test_a_request_pyjinn_never_sends_is_answered_400_not_a_crash(
    sdk_loader: ModuleLoader, probe: Path, stdin: bytes
) -> None:
    status, body = answer(sdk_loader, probe, stdin)
    assert status == 400, body
    assert json.loads(body)["error"].startswith("invalid request: ")


def test_unknown_fields_of_any_shape_are_skipped(sdk_loader: ModuleLoader, probe: Path) -> None:
    envelope = {
        "future": {"a": [1, -2.5e3, {"b": None}], "c": True, "d": '\\"x\u00e9'},
        "path": "/request",
        "method": None,
        "later": [[], {}],
    }
    seen = describe(sdk_loader, probe, envelope)
    assert (seen["path"], seen["method"], seen["body_length"]) == ("/request", "", 0)


def test_escapes_decode_and_a_lone_surrogate_becomes_the_replacement_character(
    sdk_loader: ModuleLoader, probe: Path
) -> None:
    text = (
        '{"path": "/request", "query": {"q": ["\\ud83d\\ude00 \\u00e9\\t\\"\\/"]}, '
        '"headers": {"X-Probe": "\\ud800 lone", "X-Other": ["a", "b"]}}'
    )
    status, body = answer(sdk_loader, probe, text.encode())
    assert status == 200, body
    seen = json.loads(body)
    assert seen["q"] == '\U0001f600 \u00e9\t"/'
    assert seen["probe_header"] == "\ufffd lone"
    assert seen["headers"] == [["X-Probe", "\ufffd lone"], ["X-Other", "a"], ["X-Other", "b"]]


def test_a_base64_body_is_decoded_to_its_bytes(sdk_loader: ModuleLoader, probe: Path) -> None:
    envelope = {"path": "/body", "body": "/wD+", "body_encoding": "base64"}
    status, body = answer(sdk_loader, probe, json.dumps(envelope).encode())
    assert (status, body) == (200, b"\xff\x00\xfe")
