"""The guest's writes to its stdout and stderr, served by the native path without wasmtime's
streams.

wasmtime hands a guest's ``fd_write`` on a custom output stream to an asynchronous writer
(tens of microseconds a write), and on a file to the kernel (a system call a write, and the
file's life around the invocation). For a module whose guests have no file to write to (no
writable mount), and with the ``_fastinvoke`` extension, ``fd_write`` is replaced on the linker
by a C function that copies writes to fd 1 and 2 straight into the running invocation's capped
buffers, every buffer of a call in order, and answers EBADF for any other descriptor (stdin, a
directory or a read-only file: nothing such a guest could write to). Modules with a writable
mount keep wasmtime's ``fd_write``; without the extension the ctypes path keeps its memfds
(``output``).
"""

from __future__ import annotations

import wasmtime

from pyjinn.engine import hostfunc, native

WASI = "wasi_snapshot_preview1"


def define(linker: wasmtime.Linker) -> None:
    """Replace WASI's ``fd_write`` on ``linker`` (which must allow shadowing) with the native
    one, when the extension is built."""
    extension = native.extension
    if extension is None:
        return
    i32 = wasmtime.ValType.i32()
    hostfunc.define_native(
        linker, WASI, "fd_write", [i32, i32, i32, i32], [i32], extension.fd_write_function()
    )
