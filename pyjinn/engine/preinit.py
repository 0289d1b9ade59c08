"""Pre-initialised modules: start from a memory image instead of from the module's beginning.

An interpreter (CPython for Python functions) takes tens of milliseconds to start and more to
import a function's code. Wizer's idea, done at load time inside pyjinn: run the module once in
a store of its own up to the point where a request could be served, then keep what that changed
in linear memory. Every invocation still gets a fresh instance of the module, from the same
``InstancePre``, and invoke writes the image into its memory before entering it: the guest
starts where initialisation left off, and nothing of one invocation reaches the next.

The image holds only the 4 KiB pages that differ from the module's own initial memory (which
wasmtime maps copy-on-write), so restoring it costs about a memcpy of what initialisation
touched. Memory is the whole of the state when the module's only mutable global is its stack
pointer and it never changes its tables (checked for the interpreter by its tests): after an
export returns, the stack pointer is back where it started.

``Entry`` names the export an invocation calls instead of ``_start``, with constant i32
arguments (the address of code the image holds, say).
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import wasmtime

PAGE = 4096
WASM_PAGE = 65536


@dataclass(frozen=True)
class Entry:
    """The export an invocation calls: ``name(*args)``, with ``results`` i32 results (0 or 1);
    a result other than 0 is the guest's exit status."""

    name: str
    args: tuple[int, ...] = ()
    results: int = 0

    @property
    def native(self) -> tuple[bytes, tuple[int, ...], int]:
        """The form the invocation mechanics take."""
        return (self.name.encode(), self.args, self.results)


@dataclass(frozen=True)
class MemoryImage:
    """Linear memory after initialisation, as changes to the module's initial memory."""

    pages: int  # the memory's size in wasm pages
    data: bytes  # the changed runs of bytes, concatenated
    runs: bytes  # (offset, length) pairs of native uint32, one per run

    @property
    def native(self) -> tuple[int, bytes, bytes]:
        """The form the invocation mechanics take."""
        return (self.pages, self.data, self.runs)

    @property
    def restored_bytes(self) -> int:
        """How many bytes each invocation writes."""
        return len(self.data)

    @property
    def run_count(self) -> int:
        return len(self.runs) // 8


def difference(initial: bytes, current: bytes) -> MemoryImage:
    """The image that turns ``initial`` (a fresh instance's memory) into ``current``."""
    if len(current) % WASM_PAGE or len(current) < len(initial):
        raise ValueError("memory only grows, in whole wasm pages")
    runs = array.array("I")
    pieces: list[bytes] = []
    start = -1
    view_initial, view_current = memoryview(initial), memoryview(current)
    for offset in range(0, len(current), PAGE):
        end = offset + PAGE
        # Pages past the initial size start as zeros.
        before = view_initial[offset:end] if offset < len(initial) else bytes(PAGE)
        changed = view_current[offset:end] != before
        if changed and start < 0:
            start = offset
        elif not changed and start >= 0:
            runs.extend((start, offset - start))
            pieces.append(current[start:offset])
            start = -1
    if start >= 0:
        runs.extend((start, len(current) - start))
        pieces.append(current[start:])
    return MemoryImage(len(current) // WASM_PAGE, b"".join(pieces), runs.tobytes())


def memory_bytes(store: wasmtime.Store, instance: wasmtime.Instance) -> bytes:
    """A copy of the instance's exported memory."""
    memory = instance.exports(store)["memory"]
    if not isinstance(memory, wasmtime.Memory):
        raise TypeError("the module's 'memory' export is not a memory")
    return bytes(memory.read(store, 0, memory.data_len(store)))
