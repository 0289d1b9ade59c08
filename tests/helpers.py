"""Helpers shared by tests: inline WAT guests, and running the ABI guests they make."""

from __future__ import annotations

import json
from typing import Any

# Inline WAT guests used across the suite. Each writes a fixed response or misbehaves in one way.

WASI_IMPORTS = """
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
"""


def wat_writing(text: str, *, then: str = "") -> str:
    """A WAT module whose ``_start`` writes ``text`` to stdout, then runs ``then``."""
    data = text.encode()
    escaped = "".join(f"\\{byte:02x}" for byte in data)
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 1)
      (data (i32.const 64) "{escaped}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const {len(data)}))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        {then}))
    """


def wat_trapping(body: str) -> str:
    """A WAT module whose ``_start`` is ``body`` (with WASI imports and one page of memory)."""
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 1)
      (func $recurse (param i32) (result i32)
        (i32.add (call $recurse (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
      (func (export "_start") {body}))
    """


HELLO = '{"status":200,"headers":{"Content-Type":["text/plain"]},"body":"hello"}'


def abi_guest(imports: str, calls: list[str], data: dict[int, str | bytes] | None = None) -> str:
    """A WAT module that makes host calls and answers ``{"body": "r1,r2,..."}`` with each call's
    result (an i64 expression in ``calls``) in decimal. ``data`` places strings at offsets
    below 4096; memory is 2 pages, and [8192, 65536) holds the output."""
    segments = "".join(
        f'(data (i32.const {offset}) "{_wat_bytes(text)}")' for offset, text in (data or {}).items()
    )
    body = "\n".join(
        f"(if (i32.gt_u (global.get $out) (i32.const 8201)) (then (call $put (i32.const 44))))"
        f"\n(call $num {call})"
        for call in calls
    )
    return f"""
    (module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      {imports}
      (memory (export "memory") 2)
      {segments}
      (data (i32.const 8192) "{{\\"body\\":\\"")
      (global $out (mut i32) (i32.const 8201))
      (func $put (param $c i32)
        (i32.store8 (global.get $out) (local.get $c))
        (global.set $out (i32.add (global.get $out) (i32.const 1))))
      (func $num (param $v i64) (local $p i32)
        (if (i64.lt_s (local.get $v) (i64.const 0))
          (then (call $put (i32.const 45)) (local.set $v (i64.sub (i64.const 0) (local.get $v)))))
        (local.set $p (i32.const 8000))
        (loop $digit
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (i32.store8 (local.get $p)
            (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
          (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
          (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
        (loop $copy
          (call $put (i32.load8_u (local.get $p)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br_if $copy (i32.lt_u (local.get $p) (i32.const 8000)))))
      (func (export "_start")
        {body}
        (call $put (i32.const 34)) (call $put (i32.const 125))
        (i32.store (i32.const 8100) (i32.const 8192))
        (i32.store (i32.const 8104) (i32.sub (global.get $out) (i32.const 8192)))
        (drop (call $fd_write (i32.const 1) (i32.const 8100) (i32.const 1) (i32.const 8108)))))
    """


def _wat_bytes(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return "".join(f"\\{byte:02x}" for byte in data)


PYJINN_IMPORTS = """
  (import "pyjinn" "log" (func $log (param i32 i32 i32)))
  (import "pyjinn" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "pyjinn" "error_read" (func $error_read (param i32 i32) (result i32)))
"""
KV_IMPORTS = """
  (import "pyjinn" "kv_get" (func $kv_get (param i32 i32) (result i64)))
  (import "pyjinn" "kv_set" (func $kv_set (param i32 i32 i32 i32) (result i32)))
  (import "pyjinn" "kv_delete" (func $kv_delete (param i32 i32) (result i32)))
  (import "pyjinn" "kv_list" (func $kv_list (param i32 i32) (result i64)))
"""
SQL_IMPORTS = """
  (import "pyjinn" "db_query" (func $db_query (param i32 i32 i32 i32) (result i64)))
  (import "pyjinn" "db_exec" (func $db_exec (param i32 i32 i32 i32) (result i64)))
"""
BLOB_IMPORTS = """
  (import "pyjinn" "blob_put" (func $blob_put (param i32 i32 i32 i32) (result i32)))
  (import "pyjinn" "blob_get" (func $blob_get (param i32 i32) (result i64)))
  (import "pyjinn" "blob_delete" (func $blob_delete (param i32 i32) (result i32)))
  (import "pyjinn" "blob_list" (func $blob_list (param i32 i32) (result i64)))
"""


class Strings:
    """Lays strings out below offset 4096 for ``abi_guest``: ``at(text)`` gives the
    ``(pointer, length)`` to pass, ``data`` the segments."""

    def __init__(self, start: int = 0) -> None:
        self.data: dict[int, str | bytes] = {}
        self._next = start

    def at(self, text: str | bytes) -> tuple[int, int]:
        length = len(text.encode() if isinstance(text, str) else text)
        offset = self._next
        if offset + length > 4096:
            raise ValueError("the strings do not fit below offset 4096")
        self.data[offset] = text
        self._next = offset + length + (-length % 8)
        return offset, length


async def call_abi_guest(runtime: Any, tenant: str = "", name: str = "fn") -> tuple[list[int], Any]:
    """Run ``abi_guest`` function ``name`` for ``tenant``: (the results it printed, the Run)."""
    run = await runtime.call(runtime.functions[name], b"{}", tenant=tenant)
    assert run.error is None, run.error
    return abi_results(run.stdout), run


def abi_results(stdout: bytes) -> list[int]:
    """The results an ``abi_guest`` printed in its response body, in order."""
    body = json.loads(stdout)["body"]
    return [int(value) for value in body.split(",") if value]
