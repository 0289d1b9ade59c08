"""A copy of a guest's linear memory, kept sparse: only its pages that are not all zero.

A guest's memory is mostly pages it never touched (wasi-libc modules start with 16 MiB), so a
snapshot keeps the 4 KiB pages that hold something, and their numbers. Both invocation
mechanics take it before the store is torn down; crash records turn it into a coredump.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PAGE = 4096
_ZERO = bytes(PAGE)


@dataclass(frozen=True, slots=True)
class MemoryImage:
    """``size`` bytes of memory, of which the pages numbered in ``pages`` (u32, little-endian,
    ascending) hold ``data``, one page after another; every other page is zero."""

    size: int
    data: bytes
    pages: bytes

    @classmethod
    def of(cls, memory: bytes) -> MemoryImage:
        """The sparse image of a whole memory."""
        view = memoryview(memory)
        kept = [
            number
            for number in range(len(memory) // PAGE)
            if view[number * PAGE : (number + 1) * PAGE] != _ZERO
        ]
        data = b"".join(view[number * PAGE : (number + 1) * PAGE] for number in kept)
        return cls(len(memory), data, struct.pack(f"<{len(kept)}I", *kept))

    def page_numbers(self) -> tuple[int, ...]:
        return struct.unpack(f"<{len(self.pages) // 4}I", self.pages)

    def runs(self) -> list[tuple[int, bytes]]:
        """(offset, contents) of each run of consecutive pages that are not all zero."""
        runs: list[tuple[int, bytes]] = []
        start = previous = -2
        first = 0
        numbers = self.page_numbers()
        for index, number in enumerate(numbers):
            if number != previous + 1:
                if start >= 0:
                    runs.append((start * PAGE, self.data[first * PAGE : index * PAGE]))
                start, first = number, index
            previous = number
        if start >= 0:
            runs.append((start * PAGE, self.data[first * PAGE : len(numbers) * PAGE]))
        return runs

    def to_bytes(self) -> bytes:
        """The whole memory, zero pages included."""
        memory = bytearray(self.size)
        for offset, contents in self.runs():
            memory[offset : offset + len(contents)] = contents
        return bytes(memory)
