"""The section structure of a WebAssembly binary, read and rewritten without interpreting it.

A core module is an 8-byte preamble (``\\0asm`` and version 1) followed by sections, each an id
byte, the payload size as an unsigned LEB128 number, and the payload. A custom section (id 0)
starts its payload with a name: a LEB128 length and that many UTF-8 bytes. Signing needs only
this framing: it adds and removes custom sections and hashes everything else byte for byte, so
what a section means is left to wasmtime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyjinn.errors import SigningError

WASM_MAGIC = b"\0asm"
PREAMBLE = WASM_MAGIC + b"\x01\x00\x00\x00"
CUSTOM_SECTION_ID = 0
_MAX_U32_BYTES = 5


@dataclass(frozen=True)
class Section:
    """One section of a module, as offsets into the module's bytes.

    ``start`` is the offset of the id byte, ``end`` the offset just past the payload, and
    ``body`` the offset where the payload starts (for a custom section: where its content
    starts, after the name).
    """

    id: int
    start: int
    body: int
    end: int
    name: str | None = None

    @property
    def is_custom(self) -> bool:
        return self.id == CUSTOM_SECTION_ID


def read_sections(data: bytes) -> list[Section]:
    """Every section of the core module ``data``, in order.

    Raises ``SigningError`` when ``data`` is not a core module's preamble followed by
    well-framed sections that end exactly at the end of the data.
    """
    if not data.startswith(WASM_MAGIC):
        raise SigningError("not a WebAssembly binary (no \\0asm header)")
    if not data.startswith(PREAMBLE):
        raise SigningError("not a WebAssembly core module (binary version is not 1)")
    sections: list[Section] = []
    position = len(PREAMBLE)
    while position < len(data):
        start = position
        section_id = data[position]
        size, position = read_u32(data, position + 1, f"the size of the section at offset {start}")
        end = position + size
        if end > len(data):
            raise SigningError(
                f"the section at offset {start} claims {size} bytes, past the end of the file"
            )
        name = None
        if section_id == CUSTOM_SECTION_ID:
            name, position = _read_name(data, position, end, start)
        sections.append(Section(section_id, start, position, end, name))
        position = end
    return sections


def is_well_framed(data: bytes) -> bool:
    """Whether ``data`` is a core module preamble followed by well-framed sections."""
    try:
        read_sections(data)
    except SigningError:
        return False
    return True


def custom_section(name: str, content: bytes) -> bytes:
    """The bytes of a custom section called ``name`` holding ``content``."""
    encoded = name.encode("utf-8")
    payload = encode_u32(len(encoded)) + encoded + content
    return bytes([CUSTOM_SECTION_ID]) + encode_u32(len(payload)) + payload


def without(data: bytes, removed: Iterable[Section]) -> bytes:
    """``data`` with the byte ranges of the ``removed`` sections cut out."""
    kept: list[bytes] = []
    position = 0
    for section in sorted(removed, key=lambda item: item.start):
        kept.append(data[position : section.start])
        position = section.end
    kept.append(data[position:])
    return b"".join(kept)


def read_u32(data: bytes, position: int, what: str) -> tuple[int, int]:
    """Decode an unsigned LEB128 u32 at ``position``: (value, position after it)."""
    value = 0
    for index in range(_MAX_U32_BYTES):
        if position + index >= len(data):
            raise SigningError(f"{what} runs past the end of the file")
        byte = data[position + index]
        if index == _MAX_U32_BYTES - 1 and byte & 0xF0:
            raise SigningError(f"{what} is not a valid 32-bit LEB128 number")
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, position + index + 1
    raise SigningError(f"{what} is not a valid 32-bit LEB128 number")


def encode_u32(value: int) -> bytes:
    """``value`` as a minimal unsigned LEB128 number."""
    if not 0 <= value < 1 << 32:
        raise ValueError(f"{value} does not fit in 32 bits")
    encoded = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        encoded.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


def _read_name(data: bytes, position: int, end: int, start: int) -> tuple[str, int]:
    length, position = read_u32(data, position, f"the name of the custom section at offset {start}")
    if position + length > end:
        raise SigningError(f"the name of the custom section at offset {start} overruns the section")
    try:
        name = data[position : position + length].decode("utf-8")
    except UnicodeDecodeError:
        raise SigningError(
            f"the name of the custom section at offset {start} is not valid UTF-8"
        ) from None
    return name, position + length
