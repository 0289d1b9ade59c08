"""The host-call choke point: argument decoding, permissions, results, errors and the record.

These guests call the raw ABI from WAT. No key-value store is configured here, so calls that
get past every check end in UNAVAILABLE; the store itself is tested with a real NATS server in
tests/capabilities/test_kv.py.
"""

from __future__ import annotations

import json
import logging
import textwrap

import pytest

from pyjinn.abi import ErrorCode
from pyjinn.errors import ModuleErrors
from pyjinn.server.app import create_app
from tests.helpers import KV_IMPORTS, PYJINN_IMPORTS, abi_guest, abi_results

pytestmark = pytest.mark.anyio

KV_READ_USERS = "permissions {\n kv_read users\n kv_write users\n }"


def status(call: str) -> str:
    """An i32-returning call as the i64 that abi_guest prints."""
    return f"(i64.extend_i32_s {call})"


def logged(level: int, offset: int, length: int) -> str:
    """A log call (no result) followed by 0, so it can stand in abi_guest's list."""
    call = f"(call $log (i32.const {level}) (i32.const {offset}) (i32.const {length}))"
    return f"(block (result i64) {call} (i64.const 0))"


def kv_set(key: tuple[int, int], value: tuple[int, int]) -> str:
    arguments = " ".join(f"(i32.const {number})" for number in (*key, *value))
    return status(f"(call $kv_set {arguments})")


@pytest.fixture
def run_guest(make_runtime, project):
    """Run WAT ``module`` as function ``fn`` (with extra block lines); returns (results, run)."""

    async def run(module: str, block: str = "", stdin: bytes = b"{}"):
        project("fn.wat", module)
        runtime = make_runtime(f":8080 {{\n pyjinn fn.wat {{\n {block}\n }}\n}}\n")
        result = await runtime.call(runtime.functions["fn"], stdin, trace_id="t" * 32)
        assert result.error is None, result.error
        return abi_results(result.stdout), result

    return run


async def test_log_writes_a_record_tagged_with_the_function(run_guest, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="pyjinn.guest")
    module = abi_guest(
        PYJINN_IMPORTS,
        [logged(2, 0, 11)],
        {0: "hello world"},
    )
    await run_guest(module)
    record = next(r for r in caplog.records if r.getMessage() == "hello world")
    assert record.levelno == logging.WARNING
    assert record.function == "fn"
    assert record.trace_id == "t" * 32


async def test_result_read_without_a_pending_result_is_invalid(run_guest) -> None:
    module = abi_guest(
        PYJINN_IMPORTS, ["(i64.extend_i32_s (call $result_read (i32.const 0) (i32.const 16)))"]
    )
    results, run = await run_guest(module)
    assert results == [ErrorCode.INVALID]
    assert run.host_calls[0].message == "there is no pending result to read"


async def test_error_read_returns_the_last_error_message(run_guest) -> None:
    message = b"there is no pending result to read"
    module = abi_guest(
        PYJINN_IMPORTS,
        [
            "(i64.extend_i32_s (call $result_read (i32.const 0) (i32.const 16)))",
            "(i64.extend_i32_s (call $error_read (i32.const 0) (i32.const 0)))",
            "(i64.extend_i32_s (call $error_read (i32.const 100) (i32.const 1000)))",
            "(i64.load8_u (i32.const 100))",
            "(i64.extend_i32_s (call $error_read (i32.const 200) (i32.const 5)))",
        ],
    )
    results, _ = await run_guest(module)
    assert results == [ErrorCode.INVALID, len(message), len(message), message[0], 5]


async def test_a_call_outside_the_granted_namespaces_is_denied(run_guest) -> None:
    module = abi_guest(
        KV_IMPORTS,
        [
            "(call $kv_get (i32.const 0) (i32.const 8))",  # orders/1
            kv_set((0, 8), (0, 1)),
            "(i64.extend_i32_s (call $kv_delete (i32.const 0) (i32.const 8)))",
            "(call $kv_get (i32.const 16) (i32.const 7))",  # users_x: no bare prefixes
        ],
        {0: "orders/1", 16: "users_x"},
    )
    results, run = await run_guest(module, KV_READ_USERS)
    assert results == [ErrorCode.DENIED] * 4
    assert [call.call for call in run.host_calls] == ["kv_get", "kv_set", "kv_delete", "kv_get"]
    assert run.host_calls[0].message == "kv_get: kv_read does not cover key 'orders/1'"


async def test_granted_calls_without_a_store_are_unavailable(run_guest) -> None:
    module = abi_guest(
        KV_IMPORTS,
        [
            "(call $kv_get (i32.const 0) (i32.const 7))",
            kv_set((0, 7), (0, 7)),
            "(call $kv_list (i32.const 0) (i32.const 6))",
        ],
        {0: "users/1"},
    )
    results, run = await run_guest(module, KV_READ_USERS)
    assert results == [ErrorCode.UNAVAILABLE] * 3
    assert run.host_calls[0].message == "no key-value store is configured"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("(call $kv_get (i32.const 131000) (i32.const 100))", "outside the guest's"),
        ("(call $kv_get (i32.const 0) (i32.const -1))", "outside the guest's"),  # 2^32 - 1
        ("(call $kv_get (i32.const -16) (i32.const 8))", "outside the guest's"),
        ("(call $kv_get (i32.const 32) (i32.const 2))", "key is not valid UTF-8"),
        ("(call $kv_get (i32.const 40) (i32.const 9))", "invalid key 'users/../'"),
        ("(call $kv_get (i32.const 0) (i32.const 0))", "key must be 1 to 256 characters"),
        ("(call $kv_list (i32.const 64) (i32.const 3))", "invalid key prefix"),
    ],
)
async def test_hostile_arguments_are_invalid_and_never_host_errors(
    run_guest, call: str, message: str
) -> None:
    module = abi_guest(KV_IMPORTS, [call], {32: b"\xff\xfe", 40: "users/../", 64: "a b"})
    results, run = await run_guest(module, "permissions {\n kv_read *\n kv_write *\n }")
    assert results == [ErrorCode.INVALID]
    assert message in run.host_calls[0].message


async def test_an_output_buffer_outside_memory_is_invalid(run_guest) -> None:
    module = abi_guest(
        PYJINN_IMPORTS,
        ["(i64.extend_i32_s (call $error_read (i32.const 131000) (i32.const 100)))"],
    )
    results, _ = await run_guest(module)
    assert results == [ErrorCode.INVALID]


async def test_memory_grown_between_host_calls_is_usable_by_the_next_call(run_guest) -> None:
    """The host finds the guest's memory once per invocation: after memory.grow, an address in
    the new pages must be writable by the next call, and one past the end still refused."""
    message = b"range [131100, 131200) is outside the guest's 131072 bytes"  # the 2nd call's
    module = abi_guest(
        PYJINN_IMPORTS,
        [
            "(i64.extend_i32_s (call $error_read (i32.const 131100) (i32.const 100)))",
            "(i64.extend_i32_s (memory.grow (i32.const 1)))",
            "(i64.extend_i32_s (call $error_read (i32.const 131100) (i32.const 100)))",
            "(i64.load8_u (i32.const 131100))",
            "(i64.extend_i32_s (call $error_read (i32.const 196600) (i32.const 100)))",
        ],
    )
    results, _ = await run_guest(module)
    assert results == [
        ErrorCode.INVALID,  # page 3 does not exist yet
        2,  # memory.grow: the old size in pages
        len(message),
        message[0],
        ErrorCode.INVALID,  # past the end of page 3
    ]


async def test_an_oversized_value_is_refused_before_the_store(
    run_guest, make_runtime, project
) -> None:
    module = abi_guest(
        KV_IMPORTS,
        [kv_set((0, 7), (0, 3000))],
        {0: "users/1"},
    )
    project("fn.wat", module)
    runtime = make_runtime(
        ":8080 {\n pyjinn fn.wat {\n " + KV_READ_USERS + "\n }\n}\n", options="kv_max_value 2KiB"
    )
    run = await runtime.call(runtime.functions["fn"], b"{}")
    assert json.loads(run.stdout)["body"] == str(int(ErrorCode.LIMIT))
    assert run.host_calls[0].message == "value of 3000 bytes exceeds 2048 bytes"


async def test_the_record_keeps_each_call_with_its_arguments_and_outcome(run_guest) -> None:
    module = abi_guest(
        PYJINN_IMPORTS + KV_IMPORTS,
        [
            logged(1, 0, 2),
            kv_set((16, 7), (0, 2)),
        ],
        {0: "hi", 16: "users/9"},
    )
    _, run = await run_guest(module, KV_READ_USERS)
    first, second = run.host_calls
    assert (first.capability, first.call, first.arguments, first.error) == (
        "core",
        "log",
        (1, b"hi"),
        None,
    )
    assert (second.capability, second.call, second.arguments) == (
        "kv",
        "kv_set",
        ("users/9", b"hi"),
    )
    assert second.error is ErrorCode.UNAVAILABLE
    assert second.seconds >= 0


def write_caddyfile(tmp_path, block: str = "") -> object:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        f":8080 {{\n\tpyjinn fn.wat {{\n{textwrap.indent(block, chr(9) * 2)}\n\t}}\n}}\n"
    )
    return caddyfile


def test_a_module_importing_a_capability_it_is_not_granted_is_refused(tmp_path, project) -> None:
    project("fn.wat", abi_guest(KV_IMPORTS, []))
    with pytest.raises(ModuleErrors) as raised:
        create_app(write_caddyfile(tmp_path))
    assert (
        "imports 'pyjinn.kv_get' and 'pyjinn.kv_list', which need the kv_read grant, but "
        "function 'fn' has no kv_read: add the line `kv_read NAMESPACE` to its permissions block"
    ) in str(raised.value)


@pytest.mark.parametrize(
    ("import_line", "expected"),
    [
        (
            '(import "pyjinn" "kv_teleport" (func (param i32 i32) (result i64)))',
            "imports 'pyjinn.kv_teleport', which pyjinn does not provide",
        ),
        (
            '(import "pyjinn" "kv_get" (func (param i32 i32) (result i32)))',
            "imports 'pyjinn.kv_get' as (i32, i32) -> (i32); pyjinn provides it as "
            "(i32, i32) -> (i64)",
        ),
    ],
)
def test_unknown_or_mistyped_host_imports_are_refused(
    tmp_path, project, import_line: str, expected: str
) -> None:
    project("fn.wat", abi_guest(import_line, []))
    with pytest.raises(ModuleErrors) as raised:
        create_app(write_caddyfile(tmp_path, "permissions {\n\tkv_read *\n}"))
    assert expected in str(raised.value)


@pytest.mark.parametrize("result", ["i64", "i32"])
async def test_both_gojinn_host_kv_get_signatures_link(run_guest, result: str) -> None:
    call = "(call $get (i32.const 0) (i32.const 7) (i32.const 100) (i32.const 64))"
    module = abi_guest(
        f'(import "gojinn" "host_kv_get" (func $get (param i32 i32 i32 i32) (result {result})))',
        [call if result == "i64" else f"(i64.extend_i32_s {call})"],
        {0: "users/1"},
    )
    results, run = await run_guest(module, KV_READ_USERS)
    assert results == [-1]  # Gojinn: -1 for anything but a value (here: no store)
    assert run.host_calls[0].call == "host_kv_get"


async def test_a_long_log_message_is_cut_and_says_so(run_guest, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pyjinn.guest")
    module = abi_guest(PYJINN_IMPORTS, [logged(1, 0, 5000)], {0: "x" * 5000})
    await run_guest(module)
    (record,) = [r for r in caplog.records if r.getMessage().startswith("xxx")]
    assert record.getMessage() == "x" * 4096 + " [cut: 5000 bytes, at most 4096 are logged]"
