"""Guest stdout and stderr captured in memory with a hard size cap enforced by the kernel.

Each stream is a fresh memfd that wasmtime opens by path (``/proc/self/fd/N``), which is far
cheaper than wasmtime's per-write callback. Once wasmtime has opened it, the file is sized to the
cap plus some slack and sealed against growth (``F_SEAL_GROW``): a guest write past the end fails
inside the kernel, so a flooding guest can never hold more than ``limit + slack`` bytes of memory.
Writes land from offset 0 (stdout/stderr are not seekable for the guest), so the written data is
everything before the first hole, minus the zero padding of its last page.
"""

from __future__ import annotations

import fcntl
import os

_PAGE = os.sysconf("SC_PAGESIZE")
# The kernel rejects a write chunk that crosses the sealed size as a whole; chunks are at most
# one (possibly huge, 2 MiB) page, so this much slack guarantees an overflowing guest has
# visibly written past the limit before any write of it is refused.
_SLACK = 2 * 1024 * 1024 + _PAGE
_F_ADD_SEALS = 1033
_F_SEAL_SEAL = 0x1
_F_SEAL_GROW = 0x4
_SEEK_HOLE = 4
_ZERO_PAGE = bytes(_PAGE)


class CapturedStream:
    """One guest output stream (stdout or stderr) with a byte limit."""

    __slots__ = ("fd", "limit", "path")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fd = os.memfd_create("pyjinn-guest-output", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        self.path = b"/proc/self/fd/%d" % self.fd

    def seal(self) -> None:
        """Fix the size: call after wasmtime has opened (and truncated) ``path``."""
        os.ftruncate(self.fd, -(-self.limit // _PAGE) * _PAGE + _SLACK)
        fcntl.fcntl(self.fd, _F_ADD_SEALS, _F_SEAL_GROW | _F_SEAL_SEAL)

    def read(self) -> tuple[bytes, bool]:
        """Return what the guest wrote (at most ``limit`` bytes) and whether it wrote more."""
        end = os.lseek(self.fd, 0, _SEEK_HOLE)
        if end == 0:
            return b"", False
        data = _without_padding(os.pread(self.fd, end, 0))
        if len(data) > self.limit:
            return data[: self.limit], True
        return data, False

    def close(self) -> None:
        os.close(self.fd)


def _without_padding(data: bytes) -> bytes:
    """``data`` without the zeros that fill its last page (fast path: memchr plus one compare)."""
    if data[-1] != 0:
        return data
    first_zero = data.find(0, max(0, len(data) - _PAGE))
    if first_zero >= 0 and data.endswith(_ZERO_PAGE[: len(data) - first_zero]):
        return data[:first_zero]
    return data.rstrip(b"\0")  # the guest wrote zeros of its own near the end
