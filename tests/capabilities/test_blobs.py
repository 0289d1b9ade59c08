"""Object storage end to end: guests calling the ABI against the embedded filesystem store and
SeaweedFS's S3.

Covers the calls and their results, tenant isolation for every call, permissions for every
call, the size limit checked before anything is copied, hostile arguments, Gojinn's
host_s3_put/host_s3_get over HTTP, and an S3 server that dies and comes back.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from pyjinn.abi import ErrorCode
from pyjinn.server.app import PyjinnApp
from pyjinn.services import Services
from tests.helpers import BLOB_IMPORTS, PYJINN_IMPORTS, Strings, abi_guest, call_abi_guest
from tests.servers import SeaweedS3

pytestmark = pytest.mark.anyio

STORES = ["filesystem", pytest.param("s3", marks=pytest.mark.slow)]
GRANTS = "permissions {\n blob_read photos\n blob_write photos\n }"
BUFFER = 4096


def fresh_tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def status(call: str) -> str:
    return f"(i64.extend_i32_s {call})"


def const(*numbers: int) -> str:
    return " ".join(f"(i32.const {number})" for number in numbers)


def put(key: tuple[int, int], data: tuple[int, int]) -> str:
    return status(f"(call $blob_put {const(*key, *data)})")


def get(key: tuple[int, int]) -> str:
    return f"(call $blob_get {const(*key)})"


def delete(key: tuple[int, int]) -> str:
    return status(f"(call $blob_delete {const(*key)})")


def list_(prefix: tuple[int, int]) -> str:
    return f"(call $blob_list {const(*prefix)})"


def read(length: int) -> str:
    return status(f"(call $result_read {const(BUFFER, length)})")


def storage_settings(store: str, server: SeaweedS3 | None) -> str:
    if store == "filesystem":
        return "s3_bucket media"
    assert server is not None
    return (
        f"s3_endpoint {server.endpoint}\n s3_bucket {server.bucket}\n"
        f" s3_access_key {server.access_key}\n s3_secret_key {server.secret_key}"
    )


@pytest.fixture
def blob_runtime(make_runtime, project, request: pytest.FixtureRequest):
    """``blob_runtime(store, module, block)``: a runtime whose function runs ``module`` with
    the embedded store or the session's SeaweedFS."""
    services = Services()
    request.addfinalizer(services.close)

    def make(store: str, module: str, block: str = GRANTS, options: str = "", name: str = "fn"):
        server = request.getfixturevalue("seaweed") if store == "s3" else None
        project(f"{name}.wat", module)
        settings = storage_settings(store, server)
        caddyfile = f":8080 {{\n pyjinn {name}.wat {{\n {settings}\n {block}\n }}\n}}\n"
        return make_runtime(caddyfile, options=options, services=services)

    return make


@pytest.mark.parametrize("store", STORES)
async def test_put_get_list_delete_round_trip(blob_runtime, store: str) -> None:
    strings = Strings()
    key, other = strings.at("photos/cat.jpg"), strings.at("photos/dog.jpg")
    data = strings.at(b"\xff\xd8\x00meow")
    prefix = strings.at("photos/")
    module = abi_guest(
        PYJINN_IMPORTS + BLOB_IMPORTS,
        [
            put(key, data),
            put(other, (data[0], 2)),
            get(key),
            read(7),
            *(f"(i64.load8_u (i32.const {BUFFER + index}))" for index in range(7)),
            list_(prefix),
            delete(key),
            get(key),
            delete(key),  # deleting a missing object is fine
        ],
        strings.data,
    )
    results, run = await call_abi_guest(blob_runtime(store, module), fresh_tenant())
    assert results[:4] == [0, 0, 7, 7]
    assert bytes(results[4:11]) == b"\xff\xd8\x00meow"
    listing = json.loads(run.host_calls[4].result)
    assert listing == [{"key": "photos/cat.jpg", "size": 7}, {"key": "photos/dog.jpg", "size": 2}]
    assert results[11:] == [len(run.host_calls[4].result), 0, ErrorCode.NOT_FOUND, 0]


@pytest.mark.parametrize("store", STORES)
async def test_tenants_never_see_or_touch_each_others_objects(blob_runtime, store: str) -> None:
    strings = Strings()
    key, prefix = strings.at("photos/shared"), strings.at("")
    alices, bobs = strings.at("alice"), strings.at("bob")
    alice, bob = fresh_tenant(), fresh_tenant()
    writer = blob_runtime(store, abi_guest(BLOB_IMPORTS, [put(key, alices)], strings.data))
    assert (await call_abi_guest(writer, alice))[0] == [0]

    probe = [get(key), list_(prefix), delete(key), put(key, bobs), get(key)]
    results, run = await call_abi_guest(
        blob_runtime(store, abi_guest(BLOB_IMPORTS, probe, strings.data), name="probe"),
        bob,
        name="probe",
    )
    assert results == [ErrorCode.NOT_FOUND, 2, 0, 0, 3]  # "[]": bob lists nothing
    checker = blob_runtime(store, abi_guest(BLOB_IMPORTS, [get(key)], strings.data), name="c")
    _, run = await call_abi_guest(checker, alice, name="c")
    assert run.host_calls[0].result == b"alice"


async def test_every_call_outside_the_grants_is_denied(blob_runtime) -> None:
    strings = Strings()
    inside, outside = strings.at("photos/ok"), strings.at("private/x")
    lookalike = strings.at("photos_x")
    data = strings.at("v")
    writer = blob_runtime(
        "filesystem",
        abi_guest(BLOB_IMPORTS, [put(inside, data), put(outside, data)], strings.data),
        "permissions {\n blob_read *\n blob_write *\n }",
    )
    tenant = fresh_tenant()
    assert (await call_abi_guest(writer, tenant))[0] == [0, 0]

    reader = "permissions {\n blob_read photos\n blob_write elsewhere\n }"
    calls = [put(inside, data), delete(inside), get(outside), get(lookalike), list_((0, 0))]
    results, run = await call_abi_guest(
        blob_runtime("filesystem", abi_guest(BLOB_IMPORTS, calls, strings.data), reader, name="r"),
        tenant,
        name="r",
    )
    assert results[:4] == [ErrorCode.DENIED] * 4
    assert run.host_calls[0].message == "blob_put: blob_write does not cover key 'photos/ok'"
    assert json.loads(run.host_calls[4].result) == [{"key": "photos/ok", "size": 1}]


@pytest.mark.parametrize("store", STORES)
async def test_objects_over_blob_max_size_are_refused_before_they_are_copied(
    blob_runtime, store: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    strings = Strings()
    key = strings.at("photos/big")
    module = abi_guest(BLOB_IMPORTS, [put(key, (0, 2000)), put(key, (0, 1024)), get(key)],
                       strings.data)  # fmt: skip
    runtime = blob_runtime(store, module, options="blob_max_size 1KiB")
    tenant = fresh_tenant()
    results, run = await call_abi_guest(runtime, tenant)
    assert results == [ErrorCode.LIMIT, 0, 1024]
    assert run.host_calls[0].message == ("an object of 2000 bytes exceeds the limit of 1024 bytes")
    assert run.host_calls[0].arguments == ("photos/big", (0, 2000))  # never read

    # An object stored larger than the limit (by another writer) is refused on get too.
    if store == "filesystem":
        (tmp_path / "data" / "blobs" / "media" / tenant / "photos%big").write_bytes(b"x" * 1025)
    else:
        server: SeaweedS3 = request.getfixturevalue("seaweed")
        server.client().put_object(  # type: ignore[attr-defined]
            Bucket=server.bucket, Key=f"{tenant}/photos/big", Body=b"x" * 1025
        )
    getter = blob_runtime(store, abi_guest(BLOB_IMPORTS, [get(key)], strings.data),
                          options="blob_max_size 1KiB", name="g")  # fmt: skip
    results, run = await call_abi_guest(getter, tenant, name="g")
    assert results == [ErrorCode.LIMIT]
    assert "1025 bytes" in run.host_calls[0].message


@pytest.mark.parametrize(
    ("call_text", "message"),
    [
        (put((131070, 8), (0, 1)), "outside"),
        (put((0, 8), (0, -1)), "outside"),  # a 4 GiB object: out of memory before any limit
        (put((0, 8), (-16, 8)), "outside"),
        (get((64, 2)), "not valid UTF-8"),
        (get((80, 9)), "invalid key 'photos/..'"),
        (get((96, 256)), "key must be 1 to 255 characters"),
        (get((0, 0)), "key must be 1 to 255 characters"),
        (list_((400, 3)), "invalid key prefix"),
        (delete((416, 7)), "invalid key"),
    ],
)
async def test_hostile_arguments_are_invalid_and_never_host_failures(
    blob_runtime, call_text: str, message: str
) -> None:
    data: dict[int, str | bytes] = {
        0: "photos/a",
        64: b"\xff\xfe",
        80: "photos/..",
        96: "photos/" + "x" * 249,
        400: "a b",
        416: "/photos",
    }
    module = abi_guest(BLOB_IMPORTS, [call_text], data)
    results, run = await call_abi_guest(
        blob_runtime("filesystem", module, "permissions {\n blob_read *\n blob_write *\n }"),
        fresh_tenant(),
    )
    assert results == [ErrorCode.INVALID]
    assert message in run.host_calls[0].message


GOJINN_S3 = """
  (import "gojinn" "host_s3_put" (func $s3_put (param i32 i32 i32 i32) (result i32)))
  (import "gojinn" "host_s3_get" (func $s3_get (param i32 i32 i32 i32) (result i32)))
"""


async def test_a_gojinn_module_puts_and_gets_objects_over_http(blob_runtime) -> None:
    strings = Strings()
    key, missing, denied = strings.at("hello.txt"), strings.at("nothing"), strings.at("x/y")
    value = strings.at("Hello from Gojinn")

    def s3_get(key_at: tuple[int, int], capacity: int) -> str:
        return status(f"(call $s3_get {const(*key_at, BUFFER, capacity)})")

    module = abi_guest(
        GOJINN_S3,
        [
            status(f"(call $s3_put {const(*key, *value)})"),
            s3_get(key, 64),
            *(f"(i64.load8_u (i32.const {BUFFER + index}))" for index in range(5)),
            s3_get(key, 5),  # Gojinn copies at most out_max
            s3_get(missing, 64),  # 0 on any error
            status(f"(call $s3_put {const(*denied, *value)})"),  # 1 on any error
        ],
        strings.data,
    )
    # Gojinn's grants name the bucket: s3_read/s3_write sovereign-data cover all of it.
    block = "permissions {\n s3_read sovereign-data\n s3_write sovereign-data\n }"
    runtime = blob_runtime("filesystem", module, block.replace("sovereign-data", "media"))
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.status_code == 200
    numbers = [int(number) for number in response.text.split(",")]
    assert numbers[:2] == [0, 17]
    assert bytes(numbers[2:7]) == b"Hello"
    assert numbers[7:] == [5, 0, 0]  # x/y is a valid key, within the whole-bucket grant


async def test_gojinn_host_s3_put_reports_failures_as_one(blob_runtime) -> None:
    strings = Strings()
    key, data = strings.at("other/k"), strings.at("v")
    module = abi_guest(GOJINN_S3, [status(f"(call $s3_put {const(*key, *data)})")], strings.data)
    results, run = await call_abi_guest(blob_runtime("filesystem", module), fresh_tenant())
    assert results == [1]
    assert run.host_calls[0].error is ErrorCode.DENIED


async def test_gojinn_calls_stay_in_their_tenant_and_their_grants(blob_runtime) -> None:
    strings = Strings()
    key, private = strings.at("photos/mine"), strings.at("private/x")
    alices, bobs = strings.at("alice"), strings.at("bob!")

    def s3_get(key_at: tuple[int, int]) -> str:
        return status(f"(call $s3_get {const(*key_at, BUFFER, 64)})")

    def s3_put(key_at: tuple[int, int], value: tuple[int, int]) -> str:
        return status(f"(call $s3_put {const(*key_at, *value)})")

    alice, bob = fresh_tenant(), fresh_tenant()
    writer = blob_runtime("filesystem", abi_guest(GOJINN_S3, [s3_put(key, alices)], strings.data))
    assert (await call_abi_guest(writer, alice))[0] == [0]
    probe = [s3_get(key), s3_put(key, bobs), s3_get(key), s3_get(private)]
    results, run = await call_abi_guest(
        blob_runtime("filesystem", abi_guest(GOJINN_S3, probe, strings.data), name="p"),
        bob,
        name="p",
    )
    assert results == [0, 0, 4, 0]  # nothing of alice's; bob's own; private/x is not granted
    assert run.host_calls[0].error is ErrorCode.NOT_FOUND
    assert run.host_calls[3].error is ErrorCode.DENIED
    checker = blob_runtime("filesystem", abi_guest(GOJINN_S3, [s3_get(key)], strings.data),
                           name="c")  # fmt: skip
    assert (await call_abi_guest(checker, alice, name="c"))[0] == [5]


@pytest.mark.slow
async def test_a_killed_s3_server_is_unavailable_then_recovers(
    make_runtime, project, tmp_path: Path
) -> None:
    server = SeaweedS3(tmp_path / "weed")
    server.start()
    strings = Strings()
    key, data = strings.at("photos/kept"), strings.at("kept")
    project("fn.wat", abi_guest(BLOB_IMPORTS, [put(key, data), get(key)], strings.data))
    services = Services()
    runtime = make_runtime(
        f":8080 {{\n pyjinn fn.wat {{\n {storage_settings('s3', server)}\n {GRANTS}\n"
        " timeout 2s\n }\n}\n",
        services=services,
    )
    try:
        assert (await call_abi_guest(runtime, "acme"))[0] == [0, 4]
        server.kill()
        started = time.monotonic()
        results, run = await call_abi_guest(runtime, "acme")
        assert results == [ErrorCode.UNAVAILABLE] * 2
        assert "object storage unavailable" in run.host_calls[0].message
        assert server.secret_key not in run.host_calls[0].message
        assert time.monotonic() - started < 2.5
        server.start()
        deadline = time.monotonic() + 20  # its volume server may join a little after S3 answers
        while True:
            run = await runtime.call(runtime.functions["fn"], b"{}", tenant="acme")
            if run.error is None and json.loads(run.stdout)["body"] == "0,4":
                break
            assert time.monotonic() < deadline, "never recovered"
            await asyncio.sleep(0.2)
    finally:
        services.close()
        server.stop()
