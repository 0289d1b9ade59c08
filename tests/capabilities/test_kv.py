"""Key-value storage end to end: guests calling the ABI, a real nats-server behind it.

Covers the pyjinn module's calls and results, tenant isolation for every call, API keys over
HTTP, Gojinn's host functions, and a store that goes away and comes back.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from pyjinn.abi import ErrorCode
from pyjinn.server.app import PyjinnApp
from pyjinn.services import NatsConnection, Services
from pyjinn.services.nats import EmbeddedNats
from tests.helpers import KV_IMPORTS, PYJINN_IMPORTS, abi_guest, call_abi_guest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GRANTS = "permissions {\n kv_read notes\n kv_write notes\n }"


def status(call: str) -> str:
    return f"(i64.extend_i32_s {call})"


def const(*numbers: int) -> str:
    return " ".join(f"(i32.const {number})" for number in numbers)


def get(key: tuple[int, int]) -> str:
    return f"(call $kv_get {const(*key)})"


def set_(key: tuple[int, int], value: tuple[int, int]) -> str:
    return status(f"(call $kv_set {const(*key, *value)})")


def delete(key: tuple[int, int]) -> str:
    return status(f"(call $kv_delete {const(*key)})")


def list_(prefix: tuple[int, int]) -> str:
    return f"(call $kv_list {const(*prefix)})"


def read(buffer: tuple[int, int]) -> str:
    return status(f"(call $result_read {const(*buffer)})")


def byte(offset: int) -> str:
    return f"(i64.load8_u (i32.const {offset}))"


@pytest.fixture
def tenant_call(make_runtime, project, kv_services):
    """Run a WAT module as function ``fn`` for a tenant; returns the numbers it printed."""
    runtimes = {}

    async def call(module: str, tenant: str, block: str = GRANTS) -> list[int]:
        if module not in runtimes:
            project("fn.wat", module)
            runtimes[module] = make_runtime(
                f":8080 {{\n pyjinn fn.wat {{\n {block}\n }}\n}}\n", services=kv_services
            )
        results, _ = await call_abi_guest(runtimes[module], tenant)
        return results

    return call


def fresh_tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def test_set_get_read_list_delete_round_trip(tenant_call) -> None:
    module = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [
            set_((0, 7), (16, 5)),  # notes/a = hello
            get((0, 7)),  # -> 5
            read((1000, 5)),
            *(byte(1000 + i) for i in range(5)),
            list_((0, 6)),  # notes/ -> ["notes/a"]
            read((1100, 11)),
            delete((0, 7)),
            get((0, 7)),
        ],
        {0: "notes/a", 16: "hello"},
    )
    results = await tenant_call(module, fresh_tenant())
    assert results[:3] == [0, 5, 5]
    assert bytes(results[3:8]) == b"hello"
    assert results[8:] == [len(b'["notes/a"]'), 11, 0, ErrorCode.NOT_FOUND]


async def test_a_short_buffer_keeps_the_result_pending(tenant_call) -> None:
    module = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [set_((0, 7), (16, 5)), get((0, 7)), read((1000, 3)), read((1000, 5)), read((1000, 5))],
        {0: "notes/b", 16: "world"},
    )
    assert await tenant_call(module, fresh_tenant()) == [
        0,
        5,
        ErrorCode.INVALID,
        5,
        ErrorCode.INVALID,  # released after the successful read
    ]


async def test_binary_and_large_values_round_trip(tenant_call) -> None:
    value = bytes(range(256)) * 1000  # 256,000 bytes, every byte value
    at, copy = 65536, 65536 + len(value)
    module = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [set_((0, 7), (at, len(value))), get((0, 7)), read((copy, len(value)))],
        {0: "notes/c"},
    )
    # The value goes in through a data segment above the guest's working area (page 0).
    escaped = "".join(f"\\{b:02x}" for b in value)
    module = module.replace('(memory (export "memory") 2)', '(memory (export "memory") 10)')
    module = module.replace(
        "(data (i32.const 8192)", f'(data (i32.const {at}) "{escaped}")\n(data (i32.const 8192)'
    )
    results = await tenant_call(module, fresh_tenant())
    assert results == [0, len(value), len(value)]


async def test_tenants_never_see_or_touch_each_others_keys(tenant_call) -> None:
    alice, bob = fresh_tenant(), fresh_tenant()
    writer = abi_guest(KV_IMPORTS, [set_((0, 11), (16, 5))], {0: "notes/share", 16: "alice"})
    assert await tenant_call(writer, alice) == [0]

    probe = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [
            get((0, 11)),  # bob cannot read it
            list_((0, 6)),  # bob lists nothing
            read((1000, 64)),
            delete((0, 11)),  # deleting in bob's space does not touch alice's
            set_((0, 11), (16, 3)),  # bob's own value under the same name
        ],
        {0: "notes/share", 16: "bob"},
    )
    assert await tenant_call(probe, bob) == [ErrorCode.NOT_FOUND, 2, 2, 0, 0]  # "[]"

    check = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [get((0, 11)), read((1000, 5)), *(byte(1000 + i) for i in range(5))],
        {0: "notes/share"},
    )
    results = await tenant_call(check, alice)
    assert results[:2] == [5, 5] and bytes(results[2:]) == b"alice"


async def test_listing_shows_only_readable_keys(tenant_call) -> None:
    tenant = fresh_tenant()
    writer = abi_guest(
        KV_IMPORTS,
        [set_((0, 7), (32, 1)), set_((8, 9), (32, 1)), set_((20, 7), (32, 1))],
        {0: "notes/1", 8: "private/x", 20: "notesx1", 32: "v"},
    )
    assert (
        await tenant_call(writer, tenant, "permissions {\n kv_read *\n kv_write *\n }") == [0] * 3
    )
    lister = abi_guest(PYJINN_IMPORTS + KV_IMPORTS, [list_((0, 0)), read((1000, 64))], {})
    results = await tenant_call(lister, tenant)  # reads only "notes"
    assert results[0] == len(b'["notes/1"]')


async def test_an_unavailable_store_answers_unavailable_then_recovers(
    make_runtime, project, tmp_path
) -> None:
    server = EmbeddedNats(tmp_path / "own-nats")
    info = server.start()
    services = Services(NatsConnection((info.url,), info.user, info.password))
    module = abi_guest(KV_IMPORTS, [set_((0, 7), (16, 2)), get((0, 7))], {0: "notes/d", 16: "ok"})
    project("fn.wat", module)
    runtime = make_runtime(
        f":8080 {{\n pyjinn fn.wat {{\n {GRANTS}\n timeout 3s\n }}\n}}\n", services=services
    )
    function = runtime.functions["fn"]
    try:
        first = await runtime.call(function, b"{}", tenant="acme")
        assert json.loads(first.stdout)["body"] == "0,2"
        server.stop()
        down = await runtime.call(function, b"{}", tenant="acme")
        assert down.error is None
        assert (
            json.loads(down.stdout)["body"]
            == f"{int(ErrorCode.UNAVAILABLE)},{int(ErrorCode.UNAVAILABLE)}"
        )
        assert "unavailable" in down.host_calls[0].message
        server.start()
        again = await runtime.call(function, b"{}", tenant="acme")
        assert json.loads(again.stdout)["body"] == "0,2"
    finally:
        services.close()
        server.stop()


async def test_api_keys_choose_the_tenant_over_http(
    make_runtime, project, c_guest, kv_services
) -> None:
    project("mirror.wasm", c_guest("mirror"))
    runtime = make_runtime(
        ":8080 {\n pyjinn mirror.wasm {\n api_key key-for-acme-0123456789 acme\n }\n}\n",
        options="api_key key-for-globex-0123456789 globex",
        services=kv_services,
    )
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/envelope")).status_code == 401
        wrong = await client.get("/envelope", headers={"X-API-Key": "key-for-nobody-0123456789"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "missing or invalid API key"
        assert wrong.headers["www-authenticate"].startswith("Bearer")
        acme = await client.get(
            "/envelope", headers={"Authorization": "Bearer key-for-acme-0123456789"}
        )
        assert acme.json()["tenant"] == "acme"
        globex = await client.get("/envelope", headers={"X-API-Key": "key-for-globex-0123456789"})
        assert globex.json()["tenant"] == "globex"
        assert "key-for" not in acme.text + globex.text


GOJINN_KV = """
  (import "gojinn" "host_kv_set" (func $set (param i32 i32 i32 i32)))
  (import "gojinn" "host_kv_get" (func $get (param i32 i32 i32 i32) (result RESULT)))
  (import "gojinn" "host_log" (func $host_log (param i32 i32 i32)))
"""


@pytest.mark.parametrize("result", ["i64", "i32"])
async def test_a_gojinn_module_sets_and_gets_keys_over_http(
    make_runtime, project, kv_services, result: str
) -> None:
    def host_get(*arguments: int) -> str:
        call = f"(call $get {const(*arguments)})"
        return call if result == "i64" else f"(i64.extend_i32_s {call})"

    module = abi_guest(
        GOJINN_KV.replace("RESULT", result),
        [
            f"(block (result i64) (call $set {const(0, 7, 16, 5)}) (i64.const 0))",
            host_get(0, 7, 1000, 3),  # copies at most out_max
            byte(1000),
            byte(1002),
            host_get(32, 7, 1000, 10),  # missing: -1
        ],
        {0: "notes/g", 16: "gojin", 32: "notes/h"},
    )
    project("gojinn.wat", module)
    runtime = make_runtime(
        f":8080 {{\n gojinn gojinn.wat {{\n {GRANTS}\n }}\n}}\n", services=kv_services
    )
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.text == f"0,3,{ord('g')},{ord('j')},-1"
