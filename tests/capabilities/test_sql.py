"""SQL end to end: guests calling the ABI against SQLite, libSQL and a real PostgreSQL.

Covers results and their JSON, tenant isolation for every call, permissions (denied calls, and
read-only grants enforced by the engine), injection through parameters, hostile arguments, the
time budget, Gojinn's host_db_query over HTTP, PostgreSQL's pool and crashes, and SQL that
reaches for the engine's internals (addresses, files, a crash of the process).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from pyjinn.abi import ErrorCode
from pyjinn.backends.sql.postgres import APPLICATION_NAME
from pyjinn.server.app import PyjinnApp
from pyjinn.services import Services
from tests.helpers import PYJINN_IMPORTS, SQL_IMPORTS, Strings, abi_guest, call_abi_guest
from tests.servers import PostgresServer

pytestmark = pytest.mark.anyio

DRIVERS = ["sqlite", "libsql", pytest.param("postgres", marks=pytest.mark.slow)]
WRITE = "permissions {\n db write\n }"
READ = "permissions {\n db read\n }"
# What a read-only function may import: db_query only (db_exec needs db write).
QUERY_IMPORTS = '(import "pyjinn" "db_query" (func $db_query (param i32 i32 i32 i32) (result i64)))'
BUFFER = 4096  # where guests copy results (the strings live below it)


def fresh_tenant() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def p(driver: str, number: int) -> str:
    """The engine's own placeholder."""
    return f"${number}" if driver == "postgres" else "?"


def query(sql: tuple[int, int], params: tuple[int, int] = (0, 0)) -> str:
    return f"(call $db_query (i32.const {sql[0]}) (i32.const {sql[1]}) " + (
        f"(i32.const {params[0]}) (i32.const {params[1]}))"
    )


def execute(sql: tuple[int, int], params: tuple[int, int] = (0, 0)) -> str:
    return query(sql, params).replace("$db_query", "$db_exec")


def read(length: int, at: int = BUFFER) -> str:
    return f"(i64.extend_i32_s (call $result_read (i32.const {at}) (i32.const {length})))"


@pytest.fixture
def sql_runtime(make_runtime, project, request: pytest.FixtureRequest):
    """``sql_runtime(driver, module, block)``: a runtime whose function ``fn`` runs ``module``
    with the driver's database (per-test files, or the session's PostgreSQL)."""
    services = Services()
    request.addfinalizer(services.close)

    def make(driver: str, module: str, block: str = WRITE, options: str = "", name: str = "fn"):
        settings = f"db_driver {driver}"
        if driver == "postgres":
            server: PostgresServer = request.getfixturevalue("postgres_server")
            settings += f'\n db_dsn "{server.app_dsn()}"'
        project(f"{name}.wat", module)
        caddyfile = f":8080 {{\n pyjinn {name}.wat {{\n {settings}\n {block}\n }}\n}}\n"
        return make_runtime(caddyfile, options=options, services=services)

    return make


def results_of(run) -> list[object]:
    """Each call's decoded JSON result (or its error code)."""
    decoded = []
    for record in run.host_calls:
        if record.error is not None:
            decoded.append(record.error)
        elif isinstance(record.result, bytes):
            decoded.append(json.loads(record.result))
        else:
            decoded.append(record.result)
    return decoded


@pytest.mark.parametrize("driver", DRIVERS)
async def test_exec_and_query_round_trip_as_json(sql_runtime, driver: str) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
    insert = strings.at(
        f"INSERT INTO notes (id, title, body) VALUES ({p(driver, 1)}, {p(driver, 2)}, "
        f"{p(driver, 3)})"
    )
    params = strings.at('[7, "hello", null]')
    select = strings.at(f"SELECT id, title, body FROM notes WHERE id = {p(driver, 1)}")
    by_id = strings.at("[7]")
    module = abi_guest(
        PYJINN_IMPORTS + SQL_IMPORTS,
        [execute(create), execute(insert, params), query(select, by_id), read(64)],
        strings.data,
    )
    runtime = sql_runtime(driver, module)
    results, run = await call_abi_guest(runtime, fresh_tenant())
    expected_exec = {"rows_affected": 1, "last_insert_id": None if driver == "postgres" else 7}
    expected_rows = {"columns": ["id", "title", "body"], "rows": [[7, "hello", None]]}
    assert results_of(run)[:3] == [{"rows_affected": 0, "last_insert_id": None}, expected_exec,
                                   expected_rows]  # fmt: skip
    rows_length = len(run.host_calls[2].result)
    assert results[2] == rows_length and results[3] == rows_length  # result_read copied it all


@pytest.mark.parametrize("driver", DRIVERS)
async def test_tenants_never_see_or_touch_each_others_data(sql_runtime, driver: str) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE secrets (v TEXT)")
    insert = strings.at(f"INSERT INTO secrets (v) VALUES ({p(driver, 1)})")
    alices, bobs = strings.at('["alice"]'), strings.at('["bob"]')
    select = strings.at("SELECT v FROM secrets")
    delete = strings.at("DELETE FROM secrets")
    alice, bob = fresh_tenant(), fresh_tenant()
    setup = abi_guest(SQL_IMPORTS, [execute(create), execute(insert, alices)], strings.data)
    results, _ = await call_abi_guest(sql_runtime(driver, setup), alice)
    assert all(length > 0 for length in results)

    # bob reads and deletes "secrets" (no such table for him), then makes and fills his own.
    probe = [query(select), execute(delete), execute(create), execute(insert, bobs),
             query(select), execute(delete)]  # fmt: skip
    _, run = await call_abi_guest(
        sql_runtime(driver, abi_guest(SQL_IMPORTS, probe, strings.data), name="probe"),
        bob,
        name="probe",
    )
    outcomes = results_of(run)
    assert outcomes[:2] == [ErrorCode.INVALID, ErrorCode.INVALID]
    assert outcomes[4] == {"columns": ["v"], "rows": [["bob"]]}
    assert outcomes[5] == {"rows_affected": 1, "last_insert_id": None}  # his row only

    check = sql_runtime(driver, abi_guest(SQL_IMPORTS, [query(select)], strings.data), name="c")
    _, run = await call_abi_guest(check, alice, name="c")
    assert results_of(run) == [{"columns": ["v"], "rows": [["alice"]]}]


@pytest.mark.parametrize("driver", DRIVERS)
async def test_read_only_grants_are_enforced_by_the_engine(sql_runtime, driver: str) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE kept (v INTEGER)")
    insert = strings.at("INSERT INTO kept (v) VALUES (1)")
    select = strings.at("SELECT v FROM kept")
    writer = sql_runtime(driver, abi_guest(SQL_IMPORTS, [execute(create), execute(insert)],
                                           strings.data))  # fmt: skip
    tenant = fresh_tenant()
    await call_abi_guest(writer, tenant)

    sneaky = [
        query(insert),  # a write through db_query: refused by the read-only connection
        query(strings.at("UPDATE kept SET v = 2")),
        query(strings.at("DROP TABLE kept")),
        query(select),
    ]
    # (A read-only module importing db_exec is refused when it loads: tests/capabilities/
    # test_grants.py.)
    module = abi_guest(QUERY_IMPORTS, sneaky, strings.data)
    reader = sql_runtime(driver, module, READ, name="r")
    results, run = await call_abi_guest(reader, tenant, name="r")
    assert results[:3] == [ErrorCode.DENIED] * 3
    assert "may only read" in run.host_calls[0].message
    assert results_of(run)[3] == {"columns": ["v"], "rows": [[1]]}


@pytest.mark.parametrize("driver", DRIVERS)
async def test_injection_through_parameters_stays_data(sql_runtime, driver: str) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE users (name TEXT)")
    insert = strings.at(f"INSERT INTO users (name) VALUES ({p(driver, 1)})")
    hostile = strings.at(json.dumps(["x'); DROP TABLE users; --"]))
    match = strings.at(f"SELECT count(*) AS n FROM users WHERE name = {p(driver, 1)}")
    always = strings.at(json.dumps(["' OR '1'='1"]))
    select = strings.at("SELECT name FROM users")
    module = abi_guest(
        SQL_IMPORTS,
        [execute(create), execute(insert, hostile), query(match, always), query(select)],
        strings.data,
    )
    _, run = await call_abi_guest(sql_runtime(driver, module), fresh_tenant())
    outcomes = results_of(run)
    assert outcomes[2] == {"columns": ["n"], "rows": [[0]]}
    assert outcomes[3] == {"columns": ["name"], "rows": [["x'); DROP TABLE users; --"]]}


async def test_bytes_go_in_and_come_out_as_base64_objects(sql_runtime) -> None:
    strings = Strings()
    select = strings.at("SELECT ? AS data, length(?) AS size")
    params = strings.at('[{"base64": "AP8A"}, {"base64": "AP8A"}]')
    module = abi_guest(SQL_IMPORTS, [query(select, params)], strings.data)
    _, run = await call_abi_guest(sql_runtime("sqlite", module), fresh_tenant())
    assert results_of(run) == [{"columns": ["data", "size"], "rows": [[{"base64": "AP8A"}, 3]]}]


async def test_calls_without_a_db_grant_are_refused_when_the_module_loads(
    make_runtime, project
) -> None:
    from pyjinn.errors import ModuleError

    # The global database needs a grant (one in the function's own block is its grant).
    project("fn.wat", abi_guest(SQL_IMPORTS, []))
    caddyfile = ":8080 {\n pyjinn fn.wat {\n permissions {\n kv_read x\n }\n }\n}\n"
    runtime = make_runtime(caddyfile, options="db_driver sqlite")
    with pytest.raises(ModuleError, match=r"has no db grant: add the line `db read`"):
        runtime.functions["fn"].module  # noqa: B018 - loading is the point


@pytest.mark.parametrize(
    ("arguments", "expected", "message"),
    [
        ("(i32.const 131000) (i32.const 100) (i32.const 0) (i32.const 0)", "INVALID", "outside"),
        ("(i32.const 0) (i32.const -1) (i32.const 0) (i32.const 0)", "INVALID", "outside"),
        ("(i32.const 0) (i32.const 8) (i32.const -16) (i32.const 8)", "INVALID", "outside"),
        ("(i32.const 64) (i32.const 2) (i32.const 0) (i32.const 0)", "INVALID", "not valid UTF-8"),
        ("(i32.const 0) (i32.const 8) (i32.const 80) (i32.const 5)", "INVALID", "not valid JSON"),
        ("(i32.const 0) (i32.const 8) (i32.const 96) (i32.const 7)", "INVALID", "JSON array"),
        ("(i32.const 0) (i32.const 8) (i32.const 112) (i32.const 12)", "INVALID", "params[0]"),
        ("(i32.const 0) (i32.const 8) (i32.const 128) (i32.const 19)", "INVALID", "base64"),
        ("(i32.const 0) (i32.const 8) (i32.const 160) (i32.const 12)", "INVALID", "SQL error"),
        ("(i32.const 200) (i32.const 3) (i32.const 0) (i32.const 0)", "INVALID", "empty"),
        ("(i32.const 208) (i32.const 17) (i32.const 0) (i32.const 0)", "INVALID", "one statement"),
        ("(i32.const 232) (i32.const 6) (i32.const 0) (i32.const 0)", "INVALID", "SQL error"),
        ("(i32.const 240) (i32.const 25) (i32.const 0) (i32.const 0)", "DENIED", "ATTACH"),
    ],
)
async def test_hostile_arguments_are_errors_and_never_host_failures(
    sql_runtime, arguments: str, expected: str, message: str
) -> None:
    data: dict[int, str | bytes] = {
        0: "SELECT 1",
        64: b"\xff\xfe",
        80: "[1, 2",
        96: '{"a":1}',
        112: '[{"x": [1]}]',
        128: '[{"base64": "!!!"}]',
        160: "[1, 2, 3, 4]",  # more params than placeholders
        200: "   ",
        208: "SELECT 1; SELECT 2",
        232: "SELEC 1",
        240: "ATTACH '/etc/passwd' AS x",
    }
    module = abi_guest(SQL_IMPORTS, [f"(call $db_query {arguments})"], data)
    results, run = await call_abi_guest(sql_runtime("sqlite", module), fresh_tenant())
    assert results == [ErrorCode[expected]]
    assert message in run.host_calls[0].message


@pytest.mark.parametrize("driver", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
async def test_a_statement_outliving_the_invocation_is_cancelled(sql_runtime, driver) -> None:
    strings = Strings()
    endless = strings.at(
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT count(*) FROM r"
    )
    module = abi_guest(QUERY_IMPORTS, [query(endless)], strings.data)
    runtime = sql_runtime(driver, module, READ + "\n timeout 2s")
    started = time.monotonic()
    results, run = await call_abi_guest(runtime, fresh_tenant())
    assert results == [ErrorCode.LIMIT]
    assert "time budget" in run.host_calls[0].message
    assert time.monotonic() - started < 4.0


GOJINN_DB = '(import "gojinn" "host_db_query" (func $q (param i32 i32 i32 i32) (result i32)))'


def byte_at(offset: int) -> str:
    return f"(i64.load8_u (i32.const {offset}))"


async def test_a_gojinn_module_queries_over_http(sql_runtime) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE t (q TEXT)")
    insert = strings.at("INSERT INTO t VALUES ('say \"hi\"')")
    select = strings.at("SELECT q FROM t")
    missing = strings.at('SELECT * FROM "no""table"')

    def gojinn_query(sql: tuple[int, int], capacity: int) -> str:
        arguments = f"(i32.const {sql[0]}) (i32.const {sql[1]}) (i32.const {BUFFER})"
        return f"(i64.extend_i32_s (call $q {arguments} (i32.const {capacity})))"

    expected_rows = json.dumps([{"q": 'say "hi"'}], separators=(",", ":")).encode()
    module = abi_guest(
        GOJINN_DB,
        [
            gojinn_query(create, 64),
            gojinn_query(insert, 64),
            gojinn_query(select, 64),
            *(byte_at(BUFFER + index) for index in range(len(expected_rows))),
            gojinn_query(select, 5),  # Gojinn copies at most out_max
            gojinn_query(missing, 200),
            *(byte_at(BUFFER + index) for index in range(60)),
        ],
        strings.data,
    )
    runtime = sql_runtime("sqlite", module, WRITE)
    transport = httpx.ASGITransport(app=PyjinnApp(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/")
    assert response.status_code == 200
    numbers = [int(value) for value in response.text.split(",")]
    assert numbers[:3] == [2, 2, len(expected_rows)]  # "[]" for statements without rows
    rows_end = 3 + len(expected_rows)
    assert bytes(numbers[3:rows_end]) == expected_rows
    assert numbers[rows_end] == 5
    error_length = numbers[rows_end + 1]
    error = bytes(numbers[rows_end + 2 : rows_end + 2 + min(error_length, 60)])
    assert error.startswith(b'[{"error": "SQL error: no such table: no\\"table')  # escaped


async def test_gojinn_host_db_query_errors_are_json_in_the_buffer(sql_runtime) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE t (a INTEGER)")

    def gojinn_query(pointer: int, capacity: int) -> str:
        arguments = f"(i32.const {create[0]}) (i32.const {create[1]}) (i32.const {pointer})"
        return f"(i64.extend_i32_s (call $q {arguments} (i32.const {capacity})))"

    module = abi_guest(
        GOJINN_DB,
        [gojinn_query(BUFFER, 300), gojinn_query(BUFFER, 10), gojinn_query(131000, 300)],
        strings.data,
    )
    results, run = await call_abi_guest(sql_runtime("sqlite", module, READ), fresh_tenant())
    message = json.dumps([{"error": run.host_calls[0].message}]).encode()
    assert run.host_calls[0].error is ErrorCode.DENIED  # a write under db read
    # Copied up to out_max, as in Gojinn; a buffer outside memory gives 0.
    assert results == [len(message), 10, 0]


@pytest.mark.parametrize("driver", DRIVERS)
async def test_gojinn_host_db_query_stays_in_its_tenant(sql_runtime, driver: str) -> None:
    strings = Strings()
    create = strings.at("CREATE TABLE t (v TEXT)")
    insert = strings.at("INSERT INTO t (v) VALUES ('alice')")
    select = strings.at("SELECT v FROM t")

    def gojinn_query(sql: tuple[int, int]) -> str:
        arguments = f"(i32.const {sql[0]}) (i32.const {sql[1]}) (i32.const {BUFFER})"
        return f"(i64.extend_i32_s (call $q {arguments} (i32.const 200)))"

    alice, bob = fresh_tenant(), fresh_tenant()
    writer = sql_runtime(
        driver, abi_guest(GOJINN_DB, [gojinn_query(create), gojinn_query(insert)], strings.data)
    )
    await call_abi_guest(writer, alice)
    reader = sql_runtime(driver, abi_guest(GOJINN_DB, [gojinn_query(select)], strings.data),
                         READ, name="r")  # fmt: skip
    _, run = await call_abi_guest(reader, bob, name="r")
    assert run.host_calls[0].error is ErrorCode.INVALID  # no table t for bob
    _, run = await call_abi_guest(reader, alice, name="r")
    assert run.host_calls[0].result == len(b'[{"v":"alice"}]')


@pytest.mark.slow
async def test_postgres_pool_exhaustion_waits_then_is_unavailable(
    sql_runtime, postgres_server: PostgresServer
) -> None:
    strings = Strings()
    slow = strings.at("SELECT pg_sleep(1.6)")
    module = abi_guest(QUERY_IMPORTS, [query(slow)], strings.data)
    runtime = sql_runtime("postgres", module, READ + "\n timeout 3s", options="db_pool_size 2")
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    [APPLICATION_NAME],
                ).fetchone()
            peak = max(peak, int(row[0]) if row else 0)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    tenant = fresh_tenant()
    outcomes = await asyncio.gather(*(call_abi_guest(runtime, tenant) for _ in range(5)))
    watcher.cancel()
    codes = sorted(results[0] for results, _ in outcomes)
    # Two run (pg_sleep returns void: a one-row result); three wait for a connection (at most
    # a second), then give up.
    assert codes.count(ErrorCode.UNAVAILABLE) == 3, codes
    assert all(code > 0 for code in codes if code != ErrorCode.UNAVAILABLE)
    assert peak <= 2


@pytest.mark.slow
async def test_a_killed_postgres_is_unavailable_then_recovers(
    make_runtime, project, start_postgres: Callable[[], PostgresServer]
) -> None:
    server = start_postgres()
    strings = Strings()
    create = strings.at("CREATE TABLE IF NOT EXISTS kept (v INT)")
    select = strings.at("SELECT count(*) AS n FROM kept")
    module = abi_guest(SQL_IMPORTS, [execute(create), query(select)], strings.data)
    project("fn.wat", module)
    services = Services()
    dsn = server.app_dsn()
    runtime = make_runtime(
        f':8080 {{\n pyjinn fn.wat {{\n db_driver postgres\n db_dsn "{dsn}"\n {WRITE}\n'
        " timeout 3s\n }\n}\n",
        services=services,
    )
    try:
        results, _ = await call_abi_guest(runtime, "acme")
        assert results[0] >= 0 and results[1] > 0
        server.kill()
        results, run = await call_abi_guest(runtime, "acme")
        assert results == [ErrorCode.UNAVAILABLE] * 2
        assert "database unavailable" in run.host_calls[0].message
        server.start()
        deadline = time.monotonic() + 10
        while True:
            results, _ = await call_abi_guest(runtime, "acme")
            if results[0] >= 0:
                break
            assert time.monotonic() < deadline, "never recovered"
            await asyncio.sleep(0.2)
        assert results[1] > 0
    finally:
        services.close()


# -- engine internals stay out of reach ------------------------------------------------------

_GUEST_IN_A_CHILD = """
import asyncio, json, os, sys
from pathlib import Path
from pyjinn.config import loads
from pyjinn.runtime import Runtime
from pyjinn.services import Services
from tests.helpers import call_abi_guest

directory, driver = Path(sys.argv[1]), sys.argv[2]
caddyfile = (
    "{\\n admin off\\n}\\n:8080 {\\n pyjinn fn.wat {\\n db_driver " + driver
    + "\\n permissions {\\n db write\\n }\\n }\\n}\\n"
)
services = Services()
runtime = Runtime(loads(caddyfile, base_dir=directory, environ={}), services=services)
results, run = asyncio.run(call_abi_guest(runtime, "acme"))
messages = [call.message for call in run.host_calls]
print(json.dumps({"pid": os.getpid(), "results": results, "messages": messages}), flush=True)
runtime.close()
services.close()
"""


@pytest.mark.parametrize("driver", ["sqlite", "libsql"])
async def test_a_guest_registering_a_tokenizer_address_gets_denied_and_the_process_lives(
    driver: str, tmp_path
) -> None:
    """Through a real invocation, in a child process: before the fix the second call killed it
    with SIGSEGV (and every invocation it was serving)."""
    strings = Strings()
    register = strings.at("SELECT fts3_tokenizer(?, ?)")  # bound: no engine flag stops it
    address = strings.at('["x", {"base64": "QUFBQUFBQUE="}]')
    create = strings.at("CREATE VIRTUAL TABLE v USING fts3(tokenize=x)")
    after = strings.at("SELECT 1")
    calls = [query(register, address), execute(create), query(after)]
    module = abi_guest(SQL_IMPORTS, calls, strings.data)
    (tmp_path / "fn.wat").write_text(module)
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", _GUEST_IN_A_CHILD, str(tmp_path), driver],
        capture_output=True, text=True, timeout=120, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert child.returncode == 0, f"the process died ({child.returncode}): {child.stderr[-2000:]}"
    report = json.loads(child.stdout.splitlines()[-1])
    assert report["results"][:2] == [ErrorCode.DENIED, ErrorCode.INVALID]
    assert report["results"][2] > 0  # and the guest carried on
    assert "SQL function fts3_tokenizer() is not available" in report["messages"][0]
    assert "unknown tokenizer" in report["messages"][1]


@pytest.mark.parametrize("driver", ["sqlite", "libsql"])
async def test_a_read_only_guest_asking_for_a_tokenizer_gets_denied_not_an_address(
    sql_runtime, driver: str
) -> None:
    strings = Strings()
    leak = strings.at("SELECT hex(fts3_tokenizer('simple')) AS address")
    bound = strings.at("SELECT fts3_tokenizer(?) AS address")
    simple = strings.at('["simple"]')
    ordinary = strings.at(
        "SELECT json_extract('{\"a\": [1, 2]}', '$.a[1]') AS v, date('2024-02-28', '+1 day') AS d"
    )
    module = abi_guest(QUERY_IMPORTS, [query(leak), query(bound, simple), query(ordinary)],
                       strings.data)  # fmt: skip
    results, run = await call_abi_guest(sql_runtime(driver, module, READ), fresh_tenant())
    assert results[:2] == [ErrorCode.DENIED, ErrorCode.DENIED]
    for call in run.host_calls[:2]:
        assert "SQL function fts3_tokenizer() is not available" in call.message
        assert not re.search(r"[0-9A-Fa-f]{16}", call.message)
    assert results_of(run)[2] == {"columns": ["v", "d"], "rows": [[2, "2024-02-29"]]}


@pytest.mark.slow
async def test_a_postgres_guest_cannot_read_server_files(sql_runtime) -> None:
    strings = Strings()
    read_file = strings.at("SELECT pg_read_file('/etc/hostname')")
    program = strings.at("COPY (SELECT 1) TO PROGRAM 'true'")
    module = abi_guest(SQL_IMPORTS, [query(read_file), query(program)], strings.data)
    results, run = await call_abi_guest(sql_runtime("postgres", module, WRITE), fresh_tenant())
    assert results == [ErrorCode.DENIED, ErrorCode.DENIED]
    assert "permission denied for function pg_read_file" in run.host_calls[0].message
