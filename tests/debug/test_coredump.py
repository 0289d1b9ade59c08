"""A failed invocation's coredump is a standard wasm coredump that a coredump reader loads: this
file's reader follows the tool-conventions format, and wasmtime validates it as a module."""

from __future__ import annotations

import pytest
import wasmtime

from pyjinn.debug import coredump, wasm
from pyjinn.engine.snapshot import MemoryImage
from tests.debug.guests import guest

pytestmark = pytest.mark.anyio


def read_coredump(data: bytes) -> dict[str, object]:
    """A small, independent coredump reader: the process name, the frames of the one thread,
    the memory's page count and its contents rebuilt from the data segments."""
    assert data[:8] == b"\0asm\x01\x00\x00\x00"
    position, found = 8, {}
    memory = bytearray()
    while position < len(data):
        section_id = data[position]
        size, start = wasm.read_u32(data, position + 1)
        end = start + size
        if section_id == 0:
            name, payload = wasm.read_name(data, start)
            found[name] = data[payload:end]
        elif section_id == 5:
            count, at = wasm.read_u32(data, start)
            assert count == 1 and data[at] == 0
            found["pages"], _ = wasm.read_u32(data, at + 1)
            memory = bytearray(found["pages"] * 65536)
        elif section_id == 11:
            count, at = wasm.read_u32(data, start)
            for _ in range(count):
                assert data[at] == 0 and data[at + 1] == 0x41  # active, memory 0, i32.const
                offset, at = _read_i32(data, at + 2)
                assert data[at] == 0x0B
                length, at = wasm.read_u32(data, at + 1)
                memory[offset : offset + length] = data[at : at + length]
                at += length
        position = end
    core = found["core"]
    assert core[0] == 0
    found["executable"], _ = wasm.read_name(core, 1)
    stack = found["corestack"]
    assert stack[0] == 0
    found["thread"], at = wasm.read_name(stack, 1)
    count, at = wasm.read_u32(stack, at)
    frames = []
    for _ in range(count):
        assert stack[at] == 0
        instance, at = wasm.read_u32(stack, at + 1)
        function, at = wasm.read_u32(stack, at)
        offset, at = wasm.read_u32(stack, at)
        locals_count, at = wasm.read_u32(stack, at)
        stack_count, at = wasm.read_u32(stack, at)
        assert (instance, locals_count, stack_count) == (0, 0, 0)
        frames.append((function, offset))
    found["frames"] = frames
    found["memory"] = bytes(memory)
    return found


def _read_i32(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, position


def test_a_built_coredump_reads_back_and_validates() -> None:
    memory = bytearray(3 * 65536)
    memory[100:105] = b"hello"
    memory[70000:70003] = b"abc"
    dump = coredump.build("app.wasm", [(7, 12), (3, 1)], MemoryImage.of(bytes(memory)))
    read = read_coredump(dump)
    assert read["executable"] == "app.wasm"
    assert read["frames"] == [(7, 12), (3, 1)]
    assert read["pages"] == 3
    assert read["memory"] == bytes(memory)
    wasmtime.Module.validate(wasmtime.Engine(), dump)


async def test_the_coredump_of_a_crash_holds_its_frames_and_memory(
    make_client, project, records
) -> None:
    body = """(i64.store (i32.const 2000) (i64.const 0x1122334455667788)) (call $fail)"""
    project("guest.wat", guest(body, pages=2))
    assert (await make_client(":8080 {\n pyjinn /* guest.wat\n}\n").get("/")).status_code == 502
    [record] = records()
    read = read_coredump(record.members["core.wasm"])
    backtrace = record.document["outcome"]["backtrace"]
    assert read["frames"] == [(frame["function"], frame["offset"]) for frame in backtrace]
    assert read["pages"] == 2
    assert read["memory"][2000:2008] == (0x1122334455667788).to_bytes(8, "little")
    wasmtime.Module.validate(wasmtime.Engine(), record.members["core.wasm"])
