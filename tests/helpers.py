"""Helpers shared by tests: inline WAT guests."""

from __future__ import annotations

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
