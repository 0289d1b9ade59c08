"""The Gojinn compatibility table: Caddyfiles in the shapes of Gojinn's documentation and
benchmarks (tests/conformance/gojinn/) load unchanged, or fail only for capabilities not built
yet, named as such; and modules shaped like ones built with Gojinn's SDKs serve through them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import wasmtime
from click.testing import CliRunner

from pyjinn.cli import main
from pyjinn.config import load
from pyjinn.runtime import Runtime
from pyjinn.server.app import PyjinnApp
from pyjinn.validate import check_file
from tests.helpers import WASI_IMPORTS, Strings, abi_guest

SHAPES = Path(__file__).parent / "gojinn"
NOT_BUILT = "is not supported yet"
NOTES_KEY = "notes-key-0123456789abcdef"
ENVIRON = {"SECRET_KEY": "s3cr3t", "SECRET_API_KEY": "another-secret", "NOTES_KEY": NOTES_KEY}


def gojinn_module(name: str) -> str:
    """A module answering as Gojinn's Go SDK does (headers as lists, a JSON body as a string,
    a trailing newline), after a log line on stderr as ``sdk.Log`` writes it."""
    stdout = (
        json.dumps(
            {
                "status": 200,
                "headers": {"Content-Type": ["application/json"], "X-Module": [name]},
                "body": json.dumps({"message": f"Hello from {name}"}),
            }
        )
        + "\n"
    ).encode()
    stderr = f"USER_LOG: {name} handled the request\n".encode()
    escape = lambda data: "".join(f"\\{byte:02x}" for byte in data)  # noqa: E731
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 1)
      (data (i32.const 1024) "{escape(stderr)}")
      (data (i32.const 8192) "{escape(stdout)}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const {len(stderr)}))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 0) (i32.const 8192))
        (i32.store (i32.const 4) (i32.const {len(stdout)}))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """


GOJINN_DB_IMPORTS = """
  (import "gojinn" "host_db_query" (func $db (param i32 i32 i32 i32) (result i32)))
"""
GOJINN_S3_IMPORTS = """
  (import "gojinn" "host_s3_put" (func $s3_put (param i32 i32 i32 i32) (result i32)))
  (import "gojinn" "host_s3_get" (func $s3_get (param i32 i32 i32 i32) (result i32)))
"""
GOJINN_KV_IMPORTS = """
  (import "gojinn" "host_kv_set" (func $kv_set (param i32 i32 i32 i32)))
  (import "gojinn" "host_kv_get" (func $kv_get (param i32 i32 i32 i32) (result i64)))
"""
BUFFER = 5000


def storage_module(*, with_objects: bool) -> str:
    """A module using Gojinn's host call for SQL, and with ``with_objects`` its object storage
    calls (and importing its key-value calls): answers with the bytes the query copied, the
    put's status (0: ok) and the bytes the get copied."""
    strings = Strings()
    query = strings.at("SELECT 40 + 2 AS n")
    key, value = strings.at("greeting"), strings.at("hello")

    def call(name: str, first: tuple[int, int], second: tuple[int, int]) -> str:
        arguments = " ".join(f"(i32.const {number})" for number in (*first, *second))
        return f"(i64.extend_i32_s (call ${name} {arguments}))"

    calls = [call("db", query, (BUFFER, 200))]
    imports = GOJINN_DB_IMPORTS
    if with_objects:
        calls += [call("s3_put", key, value), call("s3_get", key, (BUFFER, 200))]
        imports += GOJINN_S3_IMPORTS + GOJINN_KV_IMPORTS
    return abi_guest(imports, calls, strings.data)


MODULES: dict[str, Callable[[], str]] = {
    "functions/processor.wasm": lambda: gojinn_module("processor"),
    "hello.wasm": lambda: gojinn_module("hello"),
    "functions/simple.wasm": lambda: gojinn_module("simple"),
    "functions/contact.wasm": lambda: gojinn_module("contact"),
    "functions/users.wasm": lambda: storage_module(with_objects=False),
    "bin/tax.wasm": lambda: gojinn_module("tax"),
    "functions/kv.wasm": lambda: gojinn_module("kv"),
    "functions/notes.wasm": lambda: storage_module(with_objects=True),
}
# Files expected to fail (for capabilities not built yet only).
REFUSED = {"mesh.Caddyfile", "successor.Caddyfile"}
SHAPE_FILES = sorted(path.name for path in SHAPES.glob("*.Caddyfile"))


@pytest.fixture
def shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """``shape(name)``: the Caddyfile ``name`` in a project directory holding its modules."""
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)
    for relative, module in MODULES.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(wasmtime.wat2wasm(module()))
    (tmp_path / "static").mkdir()

    def copy(name: str) -> Path:
        return Path(shutil.copy(SHAPES / name, tmp_path / name))

    return copy


@pytest.mark.parametrize("name", SHAPE_FILES)
def test_gojinn_shaped_caddyfiles_validate_or_fail_only_for_what_is_not_built(
    shape: Callable[[str], Path], name: str
) -> None:
    report = check_file(shape(name))
    if name in REFUSED:
        assert report.problems, "expected a capability not built yet"
        assert all(NOT_BUILT in problem for problem in report.problems), report.problems
    else:
        assert report.problems == []


def test_validate_prints_what_changed_meaning_for_a_gojinn_file(
    shape: Callable[[str], Path],
) -> None:
    result = CliRunner().invoke(main, ["validate", str(shape("features.Caddyfile"))])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert any("kv_read in a gojinn block grants last (and last/...)" in w for w in warnings)
    assert any("write kv_write last* for that" in w for w in warnings)
    assert any("db write (its own db_driver/db_dsn)" in w for w in warnings)
    assert any("mount ./static /static is read-only here" in w for w in warnings)
    assert any("data_dir ./data/notes in a gojinn block" in w for w in warnings)
    assert NOTES_KEY not in result.output


async def serve(path: Path, method: str, target: str, **options: object) -> httpx.Response:
    runtime = Runtime(load(path))
    try:
        assert runtime.load_all() == []
        transport = httpx.ASGITransport(app=PyjinnApp(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://gojinn") as client:
            return await client.request(method, target, **options)  # type: ignore[arg-type]
    finally:
        runtime.close()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "method", "target", "module"),
    [
        ("readme.Caddyfile", "POST", "/api/process", "processor"),
        ("quickstart.Caddyfile", "POST", "/api/hello", "hello"),
        ("reference-minimal.Caddyfile", "GET", "/api/simple", "simple"),
        ("reference-production.Caddyfile", "GET", "/api/contact", "contact"),
        ("benchmark.Caddyfile", "POST", "/api/bench", "tax"),
        ("benchmark-cold.Caddyfile", "POST", "/api/bench", "tax"),
        ("features.Caddyfile", "GET", "/api/v1/tax", "tax"),
        ("features.Caddyfile", "GET", "/api/v2/tax", "tax"),
    ],
)
async def test_a_gojinn_module_serves_through_its_caddyfile(
    shape: Callable[[str], Path], name: str, method: str, target: str, module: str
) -> None:
    response = await serve(shape(name), method, target, content=b'{"name": "Paulo"}')
    assert response.status_code == 200
    assert response.headers["x-module"] == module
    # The function's own Content-Type, also where the quickstart sets one with `header`.
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": f"Hello from {module}"}


@pytest.mark.anyio
async def test_gojinns_rate_limit_and_cors_origin_lines_serve(
    shape: Callable[[str], Path],
) -> None:
    headers = {"X-API-Key": ENVIRON["SECRET_API_KEY"], "Origin": "https://admin.example.com"}
    response = await serve(shape("edge.Caddyfile"), "GET", "/api/tax", headers=headers)
    assert response.status_code == 200
    assert response.headers["x-module"] == "tax"
    assert response.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert response.headers["ratelimit-policy"] == '"rate_limit";q=50;w=1;pyjinn-burst=100'
    assert response.headers["ratelimit"] == '"rate_limit";r=99;t=1'


@pytest.mark.anyio
async def test_storage_in_the_functions_block_is_its_grant_and_gojinns_debug_header_works(
    shape: Callable[[str], Path],
) -> None:
    path = shape("reference-database.Caddyfile")
    response = await serve(path, "GET", "/api/users", headers={"X-Gojinn-Debug": "my-secret-123"})
    assert response.status_code == 200
    # host_db_query copied [{"n":42}] (10 bytes): the module needed no permissions block.
    assert response.text == "10"
    assert "x-gojinn-logs" in response.headers
    assert (path.parent / "data.db").exists()  # one SQLite file, for its one tenant


@pytest.mark.anyio
async def test_gojinns_one_argument_api_key_and_own_bucket_serve(
    shape: Callable[[str], Path],
) -> None:
    path = shape("features.Caddyfile")
    refused = await serve(path, "GET", "/api/notes")
    assert refused.status_code == 401
    served = await serve(path, "GET", "/api/notes", headers={"X-API-Key": NOTES_KEY})
    assert served.status_code == 200
    assert served.text == "10,0,5"  # query copied 10 bytes; put 0 (ok); get 5 bytes
    # The tenant is named after a hash of the key, never the key itself.
    (bucket,) = (path.parent / "data" / "notes" / "blobs" / "media").iterdir()
    assert bucket.name.startswith("key-")
    assert NOTES_KEY not in bucket.name


def test_one_module_on_two_routes_is_two_functions_sharing_one_compiled_module(
    shape: Callable[[str], Path],
) -> None:
    runtime = Runtime(load(shape("features.Caddyfile")))
    try:
        first, second = runtime.functions["tax.api-v1-tax"], runtime.functions["tax.api-v2-tax"]
        assert first.spec.limits.timeout != second.spec.limits.timeout
        assert first.module is second.module
    finally:
        runtime.close()
