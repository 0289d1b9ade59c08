"""Inline WAT guests for the crash record tests: each answers, or fails in one way, on purpose."""

from __future__ import annotations

from tests.helpers import HELLO


def _escaped(data: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in data)


def guest(
    body: str, imports: str = "", data: dict[int, bytes] | None = None, pages: int = 1
) -> str:
    """A module whose ``_start`` runs ``body``; ``$answer`` writes the HELLO response, ``$write``
    writes ``(pointer, length)`` to stdout. Offsets below 512 are scratch, 1024 holds HELLO."""
    segments = "".join(
        f'(data (i32.const {offset}) "{_escaped(text)}")' for offset, text in (data or {}).items()
    )
    hello = HELLO.encode()
    return f"""
    (module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
      {imports}
      (memory (export "memory") {pages})
      (data (i32.const 1024) "{_escaped(hello)}")
      {segments}
      (func $write (param $pointer i32) (param $length i32)
        (i32.store (i32.const 0) (local.get $pointer))
        (i32.store (i32.const 4) (local.get $length))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
      (func $answer (call $write (i32.const 1024) (i32.const {len(hello)})))
      (func $fail unreachable)
      (func (export "_start") {body}))
    """


RANDOM = """(import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))"""
CLOCK = """(import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))"""
KV = """(import "pyjinn" "kv_get" (func $kv_get (param i32 i32) (result i64)))
    (import "pyjinn" "result_read" (func $result_read (param i32 i32) (result i32)))"""
ENVIRON = """(import "wasi_snapshot_preview1" "environ_sizes_get"
      (func $environ_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
    (import "pyjinn" "log" (func $log (param i32 i32 i32)))"""

# How each failure kind is provoked, and the function settings it needs.
FAILURES = {
    "trap": ("(call $answer) (call $fail)", ""),
    "exit": ("(call $answer) (call $proc_exit (i32.const 3))", ""),
    "timeout": ("(loop $forever (br $forever))", "timeout 300ms"),
    "fuel_exhausted": ("(loop $forever (br $forever))", "fuel_limit 200000"),
    "memory_limit": (
        "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 4)) (i32.const -1))))"
        " (call $fail)",
        "memory_limit 1MiB",
    ),
    "invalid_output": ("(call $write (i32.const 1024) (i32.const 9))", ""),
    "missing_output": ("(nop)", ""),
    "output_limit": (
        "(call $answer) (call $answer) (call $answer) (call $answer) (call $answer)",
        "stdout_limit 200",
    ),
}

# Traps when random_get's first byte is even.
RANDOM_EVEN_TRAPS = guest(
    """(drop (call $random_get (i32.const 256) (i32.const 1)))
    (if (i32.eqz (i32.and (i32.load8_u (i32.const 256)) (i32.const 1))) (then (call $fail)))
    (call $answer)""",
    RANDOM,
)

# Traps when the realtime clock's nanoseconds are odd.
CLOCK_ODD_TRAPS = guest(
    """(drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 256)))
    (if (i32.wrap_i64 (i64.and (i64.load (i32.const 256)) (i64.const 1))) (then (call $fail)))
    (call $answer)""",
    CLOCK,
)


def kv_guest(key: bytes, on_boom: str = "(call $fail)") -> str:
    """Reads ``key``; does ``on_boom`` when its value starts with 'b', then answers."""
    return guest(
        f"""(local $length i64)
        (local.set $length (call $kv_get (i32.const 512) (i32.const {len(key)})))
        (if (i64.gt_s (local.get $length) (i64.const 0)) (then
          (drop (call $result_read (i32.const 3072) (i32.wrap_i64 (local.get $length))))
          (if (i32.eq (i32.load8_u (i32.const 3072)) (i32.const 98)) (then {on_boom}))))
        (call $answer)""",
        KV,
        {512: key},
    )


# Copies its environment into memory, writes it to stdout and its log, then traps.
ENVIRONMENT_LEAKER = guest(
    """(drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (drop (call $environ_get (i32.const 64) (i32.const 4096)))
    (call $write (i32.const 4096) (i32.load (i32.const 20)))
    (call $log (i32.const 1) (i32.const 4096) (i32.load (i32.const 20)))
    (call $fail)""",
    ENVIRON,
)
