"""A standard WebAssembly coredump of a failed invocation (the tool-conventions format).

wasmtime's own coredump support is not reachable through its C API, so pyjinn writes the file
itself from what the invocation kept: the wasm backtrace and a copy of linear memory taken
before the store was torn down. The layout is the one wasmtime and wasm-tools write and read::

    custom "core"           0x00 executable-name
    custom "coremodules"    vec(0x00 module-name)
    custom "coreinstances"  vec(0x00 module-index vec(memory-index) vec(global-index))
    custom "corestack"      0x00 thread-name vec(frame)
        frame ::= 0x00 instance-index func-index code-offset vec(local) vec(stack-value)
    memory section          one memory, as many pages as the guest had
    data section            the memory's contents, one active segment per run of 4 KiB
                            pages that are not all zero (a partial dump, as the format allows)

Frames are youngest first. wasmtime reports no locals or operand stack values for a trap, so
frames carry none; globals are not reachable either and the dump has none. A debugger pairs
the dump with the module (kept with the record) to show functions and source lines.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyjinn.debug import wasm
from pyjinn.engine.snapshot import MemoryImage

PAGE = 65536


def build(
    executable: str,
    frames: Sequence[tuple[int, int]],
    memory: MemoryImage,
    thread: str = "main",
) -> bytes:
    """The coredump of one instance of ``executable`` stopped at ``frames`` ((function index,
    offset in the function), youngest first) with ``memory`` as its linear memory."""
    pages = (memory.size + PAGE - 1) // PAGE
    stack = [
        b"\x00" + wasm.u32(0) + wasm.u32(index) + wasm.u32(offset) + wasm.u32(0) + wasm.u32(0)
        for index, offset in frames
    ]
    parts = [
        wasm.MAGIC,
        wasm.custom_section("core", b"\x00" + wasm.name(executable)),
        wasm.custom_section("coremodules", wasm.vector([b"\x00" + wasm.name(executable)])),
        wasm.custom_section(
            "coreinstances",
            wasm.vector([b"\x00" + wasm.u32(0) + wasm.vector([wasm.u32(0)]) + wasm.vector([])]),
        ),
        wasm.custom_section("corestack", b"\x00" + wasm.name(thread) + wasm.vector(stack)),
        wasm.section(wasm.MEMORY, wasm.vector([b"\x00" + wasm.u32(pages)])),
        wasm.section(
            wasm.DATA, wasm.vector([_segment(offset, data) for offset, data in memory.runs()])
        ),
    ]
    return b"".join(parts)


def _segment(offset: int, data: bytes) -> bytes:
    # Active segment of memory 0 at (i32.const offset); the constant is signed.
    constant = offset - (1 << 32) if offset >= 1 << 31 else offset
    return b"\x00\x41" + wasm.i32(constant) + b"\x0b" + wasm.u32(len(data)) + bytes(data)
