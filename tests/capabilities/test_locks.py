"""Locks end to end: guests (inline WAT) calling lock_acquire/lock_release and Gojinn's
host_mutex_lock/unlock, a real nats-server behind them. Another holder is played by the test
through the same lock store (as another worker or node would hold it); the backend's own tests
(tests/backends/locks) contend from a second process."""

from __future__ import annotations

import time
import uuid

import pytest

from pyjinn.abi import ErrorCode
from pyjinn.errors import ModuleError
from pyjinn.observability.metrics import LOCKS_LEFT_HELD, REGISTRY
from tests.helpers import PYJINN_IMPORTS, Strings, abi_guest, call_abi_guest

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LOCK_IMPORTS = """
  (import "pyjinn" "lock_acquire" (func $lock_acquire (param i32 i32 i32 i32) (result i64)))
  (import "pyjinn" "lock_release" (func $lock_release (param i32 i32 i32 i32) (result i32)))
  (import "gojinn" "host_mutex_lock" (func $host_mutex_lock (param i32 i32 i32) (result i32)))
  (import "gojinn" "host_mutex_unlock" (func $host_mutex_unlock (param i32 i32) (result i32)))
"""
GRANT = "permissions {\n lock jobs\n }"
TOKEN_AT = 6000  # where guests copy a token (32 bytes)


def const(*numbers: int) -> str:
    return " ".join(f"(i32.const {number})" for number in numbers)


def acquire(name: tuple[int, int], ttl: int = 30, wait_ms: int = 0) -> str:
    return f"(call $lock_acquire {const(*name, ttl, wait_ms)})"


def read_token() -> str:
    return f"(i64.extend_i32_s (call $result_read {const(TOKEN_AT, 64)}))"


def release(name: tuple[int, int], token: tuple[int, int] = (TOKEN_AT, 32)) -> str:
    return f"(i64.extend_i32_s (call $lock_release {const(*name, *token)}))"


def mutex_lock(name: tuple[int, int], ttl: int = 30) -> str:
    return f"(i64.extend_i32_s (call $host_mutex_lock {const(*name, ttl)}))"


def mutex_unlock(name: tuple[int, int]) -> str:
    return f"(i64.extend_i32_s (call $host_mutex_unlock {const(*name)}))"


def fresh_tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def lock_call(make_runtime, project, kv_services):
    """Run a WAT module as function ``fn`` for a tenant; returns the numbers it printed."""
    runtimes = {}

    async def run(module: str, tenant: str, block: str = GRANT) -> list[int]:
        if (module, block) not in runtimes:
            project("fn.wat", module)
            runtimes[module, block] = make_runtime(
                f":8080 {{\n pyjinn fn.wat {{\n {block}\n }}\n}}\n", services=kv_services
            )
        results, _ = await call_abi_guest(runtimes[module, block], tenant)
        return results

    return run


@pytest.fixture
def store(kv_services):
    locks = kv_services.lock_store()
    assert locks is not None
    return locks


async def test_acquire_gives_a_token_that_releases_the_lock_once(lock_call) -> None:
    strings = Strings()
    name = strings.at("jobs/nightly")
    module = abi_guest(
        PYJINN_IMPORTS + LOCK_IMPORTS,
        [acquire(name), read_token(), release(name), release(name)],
        strings.data,
    )
    assert await lock_call(module, fresh_tenant()) == [32, 32, 0, ErrorCode.NOT_FOUND]


async def test_a_lock_another_holds_is_busy_and_its_token_alone_releases_it(
    lock_call, store
) -> None:
    tenant, holder = fresh_tenant(), uuid.uuid4().hex
    assert store.acquire(tenant, "jobs/report", holder, 30, timeout=5)
    strings = Strings()
    name, wrong = strings.at("jobs/report"), strings.at("f" * 32)
    module = abi_guest(
        PYJINN_IMPORTS + LOCK_IMPORTS, [acquire(name), release(name, wrong)], strings.data
    )
    assert await lock_call(module, tenant) == [ErrorCode.BUSY, ErrorCode.DENIED]
    assert not store.acquire(tenant, "jobs/report", uuid.uuid4().hex, 30, timeout=5)  # still held


async def test_a_waiting_acquire_gets_the_lock_when_the_holders_ttl_runs_out(
    lock_call, store
) -> None:
    tenant = fresh_tenant()
    assert store.acquire(tenant, "jobs/ttl", uuid.uuid4().hex, 1, timeout=5)
    strings = Strings()
    name = strings.at("jobs/ttl")
    module = abi_guest(PYJINN_IMPORTS + LOCK_IMPORTS, [acquire(name, wait_ms=8000)], strings.data)
    started = time.monotonic()
    assert await lock_call(module, tenant) == [32]
    assert 0.3 < time.monotonic() - started < 10


async def test_locks_still_held_when_the_invocation_ends_are_released(lock_call, store) -> None:
    REGISTRY.reset()
    tenant = fresh_tenant()
    strings = Strings()
    name = strings.at("jobs/forgotten")
    module = abi_guest(PYJINN_IMPORTS + LOCK_IMPORTS, [acquire(name, ttl=3600)], strings.data)
    assert await lock_call(module, tenant) == [32]
    assert store.acquire(tenant, "jobs/forgotten", uuid.uuid4().hex, 30, timeout=5)
    counts = {labels: n for family, labels, n in REGISTRY.snapshot() if family is LOCKS_LEFT_HELD}
    assert counts == {("fn",): 1}


async def test_a_guest_that_traps_holding_a_lock_lets_go_of_it(
    make_runtime, project, kv_services, store
) -> None:
    tenant = fresh_tenant()
    project(
        "trap.wat",
        f"""
        (module
          {LOCK_IMPORTS}
          (memory (export "memory") 1)
          (data (i32.const 0) "jobs/crash")
          (func (export "_start")
            (drop (call $lock_acquire (i32.const 0) (i32.const 10) (i32.const 3600) (i32.const 0)))
            unreachable))
        """,
    )
    runtime = make_runtime(
        f":8080 {{\n pyjinn trap.wat {{\n {GRANT}\n }}\n}}\n", services=kv_services
    )
    run = await runtime.call(runtime.functions["trap"], b"{}", tenant=tenant)
    assert run.error is not None and "unreachable" in run.error.detail
    assert store.acquire(tenant, "jobs/crash", uuid.uuid4().hex, 30, timeout=5)


async def test_gojinns_mutex_answers_1_and_0_and_only_its_holder_unlocks(lock_call, store) -> None:
    tenant = fresh_tenant()
    assert store.acquire(tenant, "jobs/theirs", uuid.uuid4().hex, 30, timeout=5)
    strings = Strings()
    mine, theirs = strings.at("jobs/mine"), strings.at("jobs/theirs")
    module = abi_guest(
        PYJINN_IMPORTS + LOCK_IMPORTS,
        [
            mutex_lock(mine),  # 1: taken
            mutex_lock(mine),  # 0: held (by this very invocation: not reentrant)
            mutex_lock(theirs),  # 0: another holds it
            mutex_unlock(theirs),  # 0: not this invocation's to release (Gojinn let anyone)
            mutex_unlock(mine),  # 1
            mutex_unlock(mine),  # 0: released already
        ],
        strings.data,
    )
    assert await lock_call(module, tenant) == [1, 0, 0, 0, 1, 0]
    assert not store.acquire(tenant, "jobs/theirs", uuid.uuid4().hex, 30, timeout=5)


async def test_tenants_do_not_share_locks(lock_call, store) -> None:
    holder_tenant, other_tenant = fresh_tenant(), fresh_tenant()
    assert store.acquire(holder_tenant, "jobs/shared", uuid.uuid4().hex, 30, timeout=5)
    strings = Strings()
    name = strings.at("jobs/shared")
    module = abi_guest(PYJINN_IMPORTS + LOCK_IMPORTS, [acquire(name)], strings.data)
    assert await lock_call(module, other_tenant) == [32]


async def test_names_outside_the_grant_are_denied_and_bad_arguments_invalid(lock_call) -> None:
    strings = Strings()
    outside, bad, ok = strings.at("billing/close"), strings.at("jobs/../x"), strings.at("jobs/a")
    module = abi_guest(
        PYJINN_IMPORTS + LOCK_IMPORTS,
        [
            acquire(outside),
            acquire(bad),
            acquire(ok, ttl=0),
            acquire(ok, ttl=86401),
            acquire(ok, wait_ms=-1),
            mutex_lock(outside),
        ],
        strings.data,
    )
    assert await lock_call(module, fresh_tenant()) == [
        ErrorCode.DENIED,
        ErrorCode.INVALID,
        ErrorCode.INVALID,
        ErrorCode.INVALID,
        ErrorCode.INVALID,
        0,
    ]


async def test_a_module_importing_locks_without_the_grant_is_refused_at_load(
    make_runtime, project, kv_services
) -> None:
    project("fn.wat", abi_guest(PYJINN_IMPORTS + LOCK_IMPORTS, []))
    runtime = make_runtime(":8080 {\n pyjinn fn.wat\n}\n", services=kv_services)
    with pytest.raises(ModuleError, match="need the lock grant") as refused:
        runtime.functions["fn"].module  # noqa: B018 - loading is the point
    assert "add the line `lock NAMESPACE` to its permissions block" in str(refused.value)


HOLDER = """
import asyncio, sys
from pathlib import Path
from pyjinn.config import loads
from pyjinn.runtime import Runtime
from pyjinn.services import NatsConnection, Services

url, user, password, tenant, directory = sys.argv[1:]
Path(directory, "spin.wat").write_text('''
(module
  (import "pyjinn" "lock_acquire" (func $lock_acquire (param i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "jobs/spin")
  (func (export "_start")
    (if (i64.lt_s (call $lock_acquire (i32.const 0) (i32.const 9) (i32.const 3600)
                    (i32.const 10000)) (i64.const 0))
      (then unreachable))
    (loop $spin (br $spin))))
''')
caddyfile = "{\\n admin off\\n}\\n:8080 {\\n pyjinn spin.wat {\\n timeout 3s\\n"
caddyfile += " permissions {\\n lock jobs\\n }\\n }\\n}\\n"
services = Services(NatsConnection((url,), user, password))
runtime = Runtime(loads(caddyfile, base_dir=Path(directory), environ={}), services=services)
run = asyncio.run(runtime.call(runtime.functions["spin"], b"{}", tenant=tenant))
print(run.error.kind if run.error else "ok", flush=True)
runtime.close()
services.close()
"""


async def test_a_lock_held_by_a_guest_in_another_process_is_busy_until_its_invocation_ends(
    lock_call, store, nats_connection, tmp_path
) -> None:
    import os
    import subprocess
    import sys

    tenant = fresh_tenant()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, nats_connection.urls[0], nats_connection.user or "",
         nats_connection.password or "", tenant, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )  # fmt: skip
    try:
        # Wait until the other process's guest holds it (a try of ours that wins lets go).
        probe, started = uuid.uuid4().hex, time.monotonic()
        while store.acquire(tenant, "jobs/spin", probe, 30, timeout=5):
            store.release(tenant, "jobs/spin", probe, timeout=5)
            assert time.monotonic() - started < 60, "the other process never took the lock"
            time.sleep(0.05)
        strings = Strings()
        name = strings.at("jobs/spin")
        module = abi_guest(PYJINN_IMPORTS + LOCK_IMPORTS, [acquire(name)], strings.data)
        assert await lock_call(module, tenant) == [ErrorCode.BUSY]
        stdout, _ = holder.communicate(timeout=60)
        assert stdout.strip() == "timeout"  # its guest was stopped holding the lock
        assert await lock_call(module, tenant) == [32]  # released when that invocation ended
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()
