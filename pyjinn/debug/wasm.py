"""Just enough of the WebAssembly binary format to read a module's sections and write a coredump.

A module is a header followed by sections, each an id byte, a LEB128 size and a payload; custom
sections (id 0) start their payload with a name. That is all crash records need to read: where
the code section's payload starts (DWARF addresses count from there) and the ``.debug_*`` custom
sections. Writing uses the same encodings (``u32``, ``i32``, ``name``, ``section``).
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"\0asm\x01\x00\x00\x00"
CUSTOM, MEMORY, GLOBAL, CODE, DATA = 0, 5, 6, 10, 11


class WasmFormatError(ValueError):
    """The bytes are not a well-formed module (or coredump) where they were read."""


@dataclass(frozen=True, slots=True)
class Section:
    """One section: its id, its name if custom, and where its payload lies in the module
    (after a custom section's name)."""

    id: int
    name: str
    start: int
    end: int


def read_u32(data: bytes, position: int) -> tuple[int, int]:
    """An unsigned LEB128 value at ``position`` and the position after it."""
    result = shift = 0
    while True:
        if position >= len(data):
            raise WasmFormatError(f"LEB128 value runs past the end at offset {position}")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 35:
            raise WasmFormatError(f"LEB128 value too long at offset {position}")


def read_name(data: bytes, position: int) -> tuple[str, int]:
    length, position = read_u32(data, position)
    end = position + length
    if end > len(data):
        raise WasmFormatError(f"name runs past the end at offset {position}")
    try:
        return data[position:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise WasmFormatError(f"name at offset {position} is not UTF-8") from None


def sections(data: bytes) -> list[Section]:
    """Every section of the module ``data``, in order."""
    if not data.startswith(MAGIC):
        raise WasmFormatError("not a WebAssembly module (no \\0asm version 1 header)")
    found = []
    position = len(MAGIC)
    while position < len(data):
        section_id = data[position]
        size, start = read_u32(data, position + 1)
        end = start + size
        if end > len(data):
            raise WasmFormatError(f"section {section_id} at offset {position} runs past the end")
        name = ""
        payload = start
        if section_id == CUSTOM:
            name, payload = read_name(data, start)
        found.append(Section(section_id, name, payload, end))
        position = end
    return found


def u32(value: int) -> bytes:
    """``value`` as unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def i32(value: int) -> bytes:
    """``value`` as signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def name(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return u32(len(encoded)) + encoded


def vector(items: list[bytes]) -> bytes:
    return u32(len(items)) + b"".join(items)


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + u32(len(payload)) + payload


def custom_section(section_name: str, payload: bytes) -> bytes:
    return section(CUSTOM, name(section_name) + payload)
