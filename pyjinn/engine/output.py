"""Guest stdout and stderr captured in memory with a hard size cap enforced by the kernel, for
the ctypes fallback (the native path keeps them in capped buffers of its own: ``_fastinvoke.c``
and ``guest_writes``).

Each stream is a fresh memfd that wasmtime opens by path (``/proc/self/fd/N``), which is far
cheaper than wasmtime's per-write callback. Once wasmtime has opened it, the file is sized to the
cap plus some slack and sealed against growth (``F_SEAL_GROW``): a guest write past the end fails
inside the kernel, so a flooding guest can never hold more than ``limit + slack`` bytes of memory.
Writes land from offset 0 (stdout/stderr are not seekable for the guest), so the written data is
everything before the first hole, minus the zero padding of its last page.

The system calls go through libc with the GIL held (``PyDLL``): they take a microsecond or two,
and releasing the GIL around each, as ``os`` does, costs far more under load (see ``_capi``).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import c_char_p, c_int, c_long, c_size_t, c_uint, c_void_p
from typing import Any

_libc = ctypes.PyDLL(None, use_errno=True)


def _syscall(name: str, restype: type, *argtypes: type) -> Any:
    function = getattr(_libc, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_memfd_create = _syscall("memfd_create", c_int, c_char_p, c_uint)
_ftruncate = _syscall("ftruncate", c_int, c_int, c_long)
_fcntl = _syscall("fcntl", c_int, c_int, c_int, c_int)
_lseek = _syscall("lseek", c_long, c_int, c_long, c_int)
_pread = _syscall("pread", c_long, c_int, c_void_p, c_size_t, c_long)
_close = _syscall("close", c_int, c_int)

_PAGE = os.sysconf("SC_PAGESIZE")
# The kernel rejects a write chunk that crosses the sealed size as a whole; chunks are at most
# one (possibly huge, 2 MiB) page, so this much slack guarantees an overflowing guest has
# visibly written past the limit before any write of it is refused.
_SLACK = 2 * 1024 * 1024 + _PAGE
_MFD_FLAGS = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
_F_ADD_SEALS = 1033
_SEALS = 0x4 | 0x1  # F_SEAL_GROW | F_SEAL_SEAL
_SEEK_HOLE = 4
_ZERO_PAGE = bytes(_PAGE)


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result


class CapturedStream:
    """One guest output stream (stdout or stderr) with a byte limit."""

    __slots__ = ("fd", "limit", "path")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fd = _check(_memfd_create(b"pyjinn-guest-output", _MFD_FLAGS), "memfd_create")
        self.path = b"/proc/self/fd/%d" % self.fd

    def seal(self) -> None:
        """Fix the size: call after wasmtime has opened (and truncated) ``path``."""
        _check(_ftruncate(self.fd, -(-self.limit // _PAGE) * _PAGE + _SLACK), "ftruncate")
        _check(_fcntl(self.fd, _F_ADD_SEALS, _SEALS), "fcntl(F_ADD_SEALS)")

    def read(self) -> tuple[bytes, bool]:
        """Return what the guest wrote (at most ``limit`` bytes) and whether it wrote more."""
        end = _check(_lseek(self.fd, 0, _SEEK_HOLE), "lseek(SEEK_HOLE)")
        if end == 0:
            return b"", False
        buffer = ctypes.create_string_buffer(end)
        got = _check(_pread(self.fd, buffer, end, 0), "pread")
        data = _without_padding(buffer.raw[:got] if got != end else buffer.raw)
        if len(data) > self.limit:
            return data[: self.limit], True
        return data, False

    def close(self) -> None:
        _close(self.fd)


def written_past(stream: CapturedStream, threshold: int) -> bool:
    """Whether the guest has written beyond byte ``threshold`` (rounded up to a page) of
    ``stream``: the first hole of the memfd lies past it. Writes land contiguously from 0."""
    hole: int = _lseek(stream.fd, 0, _SEEK_HOLE)  # -1 on failure: not judged past
    return hole > -(-threshold // _PAGE) * _PAGE


def _without_padding(data: bytes) -> bytes:
    """``data`` without the zeros that fill its last page (fast path: memchr plus one compare)."""
    if data[-1] != 0:
        return data
    first_zero = data.find(0, max(0, len(data) - _PAGE))
    if first_zero >= 0 and data.endswith(_ZERO_PAGE[: len(data) - first_zero]):
        return data[:first_zero]
    return data.rstrip(b"\0")  # the guest wrote zeros of its own near the end
