"""A crash record: one invocation, everything it received and did, in one file.

The file is a zip archive (stdlib ``zipfile``, deflated) whose members are::

    record.json   what happened: the function and its configuration, the sandbox (argv, the
                  environment's names and non-secret values, mounts), every host call with its
                  arguments and result, the poll outcomes, the outcome (trap, backtrace, exit
                  code, fuel, timing), and notes on what the record could not keep
    stdin         the request envelope exactly as the guest read it (secrets overwritten)
    stdout        what the guest wrote, up to OUTPUT_CAP bytes; stderr the same
    clocks        every clock reading the guest took, 16 bytes each (see engine.context)
    random        the bytes random_get handed out, one call after another
    core.wasm     a standard wasm coredump: the backtrace and linear memory at the failure
    module.wasm   only in an exported archive: the module (the store keeps it by digest)

The archive comment ends with the file's own size, ``size=NNNNNNNNNNNNNNNN``, so a record
lists its own size. Values in ``record.json`` are JSON, with bytes as ``{"base64": ...}``, a
guest buffer as ``{"buffer": [pointer, length]}``, and a value that had a secret overwritten
as ``{"text"|"base64": ..., "redacted": [[offset, length, NAME], ...]}``.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyjinn.debug.secrets import Secrets, Span

FORMAT = "pyjinn-crash-record"
VERSION = 1
SUFFIX = ".record"
OUTPUT_CAP = 1024 * 1024  # bytes of stdout and of stderr a record keeps
_COMMENT = b"pyjinn crash record, size=%016d"
_COMMENT_SIZE = len(_COMMENT % 0)


class RecordError(Exception):
    """A record cannot be read: not a record, a newer format, or damaged."""


@dataclass(frozen=True, slots=True)
class Buffer:
    """A guest buffer argument: where it was and how long (its contents are not recorded)."""

    pointer: int
    length: int


@dataclass(frozen=True, slots=True)
class Value:
    """A recorded argument or result, and the secrets that were overwritten in it."""

    value: Any
    redacted: tuple[Span, ...] = ()


def encode_value(value: Any, secrets: Secrets) -> Any:
    """``value`` (str, bytes, int, bool, None, or a (pointer, length) pair) as JSON."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        text, spans = secrets.redact_text(value)
        return {"text": text, "redacted": [s.to_json() for s in spans]} if spans else text
    if isinstance(value, bytes | bytearray | memoryview):
        data, spans = secrets.redact(bytes(value))
        encoded: dict[str, Any] = {"base64": base64.b64encode(data).decode("ascii")}
        if spans:
            encoded["redacted"] = [span.to_json() for span in spans]
        return encoded
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return {"buffer": list(value)}
    return {"text": repr(value)}


def decode_value(encoded: Any) -> Value:
    if encoded is None or isinstance(encoded, bool | int | float | str):
        return Value(encoded)
    if not isinstance(encoded, dict):
        raise RecordError(f"unexpected recorded value {encoded!r}")
    spans = tuple(Span.from_json(item) for item in encoded.get("redacted", ()))
    if "base64" in encoded:
        return Value(base64.b64decode(encoded["base64"]), spans)
    if "text" in encoded:
        return Value(str(encoded["text"]), spans)
    if "buffer" in encoded:
        pointer, length = encoded["buffer"]
        return Value(Buffer(int(pointer), int(length)))
    raise RecordError(f"unexpected recorded value {encoded!r}")


@dataclass
class CrashRecord:
    """A record in memory: its document and its binary members."""

    document: dict[str, Any]
    members: dict[str, bytes] = field(default_factory=dict)
    path: Path | None = None  # where it was read from
    size: int = 0  # of its file

    @property
    def id(self) -> str:
        return str(self.document["id"])

    def member(self, name: str) -> bytes:
        return self.members.get(name, b"")

    def to_bytes(self) -> bytes:
        """The record file, its own size written into its comment."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.comment = _COMMENT % 0
            text = json.dumps(self.document, indent=1, ensure_ascii=False).encode("utf-8")
            archive.writestr("record.json", text)
            for name, content in self.members.items():
                if content:
                    archive.writestr(name, content)
        data = bytearray(buffer.getvalue())
        data[-_COMMENT_SIZE:] = _COMMENT % len(data)
        return bytes(data)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path | None = None) -> CrashRecord:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                document = json.loads(archive.read("record.json"))
                members = {
                    name: archive.read(name) for name in archive.namelist() if name != "record.json"
                }
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as error:
            where = f"{path}: " if path else ""
            raise RecordError(f"{where}not a pyjinn crash record ({error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise RecordError(f"{path or 'the file'} is not a pyjinn crash record")
        if document.get("version", 0) > VERSION:
            raise RecordError(
                f"{path or 'the record'} is of format version {document.get('version')}; this "
                f"pyjinn reads version {VERSION} (upgrade pyjinn to read it)"
            )
        return cls(document, members, path, len(data))

    @classmethod
    def load(cls, path: Path) -> CrashRecord:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise RecordError(f"cannot read {path}: {error.strerror}") from None
        return cls.from_bytes(data, path)


def listed_size(data: bytes) -> int | None:
    """The size a record file says it has (its comment), or None if it says none."""
    tail = data[-_COMMENT_SIZE:]
    prefix = _COMMENT.split(b"%")[0]
    if not tail.startswith(prefix):
        return None
    return int(tail[len(prefix) :])
