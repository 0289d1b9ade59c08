"""WAT guests for the observability tests."""

from __future__ import annotations

from tests.helpers import HELLO, WASI_IMPORTS


def wat_with_stderr(stderr: str, stdout: str = HELLO) -> str:
    """Writes ``stderr`` to fd 2, then ``stdout`` to fd 1."""
    err, out = stderr.encode(), stdout.encode()
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 1)
      (data (i32.const 1024) "{_escape(err)}")
      (data (i32.const 16384) "{_escape(out)}")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const {len(err)}))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 0) (i32.const 16384))
        (i32.store (i32.const 4) (i32.const {len(out)}))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
    """


def _escape(data: bytes) -> str:
    return "".join(f"\\{byte:02x}" for byte in data)


def logged(level: int, offset: int, length: int) -> str:
    """A ``log`` host call (no result) followed by 0, so it can stand in abi_guest's list."""
    call = f"(call $log (i32.const {level}) (i32.const {offset}) (i32.const {length}))"
    return f"(block (result i64) {call} (i64.const 0))"


LOOP_FOREVER = "(loop $forever (br $forever))"
