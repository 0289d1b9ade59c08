"""WASI file system calls pyjinn narrows: ``path_symlink`` is refused unless granted.

A guest with a writable mount could otherwise create symbolic links in it that point anywhere
on the host: harmless inside the sandbox (wasmtime resolves every path within the mount), but a
trap for host tools that later follow them (backups, web servers, ``rm -r`` on the data
directory). A function's rw mounts allow it with ``symlinks``
(``mount ./data /data rw symlinks``); without it the call fails with EPERM.
"""

from __future__ import annotations

import wasmtime

from pyjinn.engine import _capi, hostfunc

_ERRNO_PERM = 63


def _path_symlink(_caller: int, slots: int) -> int | None:
    _capi.raw_set_i32(slots, 0, _ERRNO_PERM)
    return None


def refuse_symlinks(linker: wasmtime.Linker) -> None:
    """Replace WASI's ``path_symlink`` on ``linker`` (which must allow shadowing) with a call
    that always fails with EPERM."""
    i32 = wasmtime.ValType.i32()
    hostfunc.define(
        linker, "wasi_snapshot_preview1", "path_symlink", [i32] * 5, [i32], _path_symlink
    )
