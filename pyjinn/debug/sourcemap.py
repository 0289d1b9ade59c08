"""Source file and line of a wasm code offset, from the module's DWARF sections.

Compilers that emit DWARF for WebAssembly (clang, zig, rustc with ``-g``) keep it in custom
sections named ``.debug_*``; DWARF addresses count from the start of the code section's payload.
The line tables are read with pyelftools, in the command-line tools only (``pyjinn crashes
show``, ``pyjinn replay``): parsing a large module's DWARF takes a while, and a server has no
use for it, since the record keeps the module and the offsets.
"""

from __future__ import annotations

import bisect
import io
import posixpath
from dataclasses import dataclass

from pyjinn.debug import wasm

_SECTIONS = (
    "info",
    "aranges",
    "abbrev",
    "str",
    "loc",
    "ranges",
    "line",
    "pubtypes",
    "pubnames",
    "addr",
    "str_offsets",
    "line_str",
    "loclists",
    "rnglists",
)


@dataclass(frozen=True, slots=True)
class SourceLine:
    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" + (f":{self.column}" if self.column else "")


class SourceMap:
    """The line table of one module; ``lookup`` of a module offset gives its source line."""

    def __init__(self, module: bytes) -> None:
        self._addresses: list[int] = []
        self._lines: list[SourceLine | None] = []
        self._code_start = 0
        try:
            self._read(module)
        except Exception:  # DWARF we cannot read is DWARF we do not have: no source lines
            self._addresses, self._lines = [], []

    @property
    def has_lines(self) -> bool:
        return bool(self._addresses)

    def lookup(self, module_offset: int) -> SourceLine | None:
        """The source line of the instruction at ``module_offset``, if the DWARF says."""
        address = module_offset - self._code_start
        index = bisect.bisect_right(self._addresses, address) - 1
        return self._lines[index] if index >= 0 else None

    def _read(self, module: bytes) -> None:
        from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DwarfConfig, DWARFInfo

        found = wasm.sections(module)
        code = [section for section in found if section.id == wasm.CODE]
        debug = {s.name: s for s in found if s.id == wasm.CUSTOM and s.name.startswith(".debug_")}
        if not code or ".debug_line" not in debug or ".debug_info" not in debug:
            return
        self._code_start = code[0].start

        def descriptor(kind: str) -> DebugSectionDescriptor | None:
            section = debug.get(f".debug_{kind}")
            if section is None:
                return None
            payload = module[section.start : section.end]
            return DebugSectionDescriptor(io.BytesIO(payload), section.name, None, len(payload), 0)

        sections = {f"debug_{kind}_sec": descriptor(kind) for kind in _SECTIONS}
        info = DWARFInfo(
            config=DwarfConfig(little_endian=True, machine_arch="wasm", default_address_size=4),
            debug_frame_sec=None,
            eh_frame_sec=None,
            debug_sup_sec=None,
            gnu_debugaltlink_sec=None,
            debug_types_sec=None,
            **sections,
        )
        rows: list[tuple[int, SourceLine | None]] = []
        for unit in info.iter_CUs():
            program = info.line_program_for_CU(unit)
            if program is None:
                continue
            top = unit.get_top_DIE()
            directory = (
                _text(top.attributes["DW_AT_comp_dir"].value)
                if ("DW_AT_comp_dir" in top.attributes)
                else ""
            )
            header = program.header
            files = header["file_entry"]
            directories = [_text(entry) for entry in header["include_directory"]]
            version = header["version"]
            for entry in program.get_entries():
                state = entry.state
                if state is None:
                    continue
                if state.end_sequence:
                    rows.append((state.address, None))
                    continue
                index = state.file if version >= 5 else state.file - 1
                if not 0 <= index < len(files):
                    continue
                rows.append(
                    (
                        state.address,
                        SourceLine(
                            _path(files[index], directories, directory, version),
                            state.line,
                            state.column,
                        ),
                    )
                )
        rows.sort(key=lambda row: (row[0], row[1] is not None))  # a sequence end first
        self._addresses = [address for address, _ in rows]
        self._lines = [line for _, line in rows]


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _path(entry: object, directories: list[str], comp_dir: str, version: int) -> str:
    file_name = _text(entry.name)  # type: ignore[attr-defined]
    index = entry.dir_index  # type: ignore[attr-defined]
    if version >= 5:
        base = directories[index] if 0 <= index < len(directories) else comp_dir
    else:
        base = directories[index - 1] if 0 < index <= len(directories) else comp_dir
    if not posixpath.isabs(base):  # relative to the compilation directory
        root = directories[0] if version >= 5 and directories else comp_dir
        base = posixpath.join(root, base) if root != base else base
    return posixpath.normpath(posixpath.join(base, file_name)) if base else file_name
