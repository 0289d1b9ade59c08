"""The crash directory: records, the modules they ran, and retention.

::

    CRASH_PATH/                     0700
      ID.SHA12.record               0600, one per record (SHA12: its module's digest, cut)
      modules/SHA256.wasm           0600, each module once, whatever number of records ran it
      .lock                         held while a record is written and retention runs

Records are written atomically (a temporary file renamed into place). After each write the
oldest records go until at most ``max_records`` remain and they take at most ``max_bytes``
together, and modules no remaining record ran go with them. Several worker processes may share
one directory: the lock keeps their retention passes apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyjinn.debug.record import SUFFIX, CrashRecord, RecordError

DEFAULT_MAX_RECORDS = 1000
DEFAULT_MAX_BYTES = 1024**3
_DIGEST_LENGTH = 12


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record file in the store: its id, file and size."""

    id: str
    path: Path
    size: int
    digest_prefix: str


class CrashStore:
    """One crash directory. Creating it makes the directory (0700) if needed; raises
    ``OSError`` when it is owned by another user or open to others."""

    def __init__(
        self,
        directory: Path,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        create: bool = True,
    ) -> None:
        self.directory = directory
        self.max_records = max_records
        self.max_bytes = max_bytes
        if create:
            _private_directory(directory)
            _private_directory(directory / "modules")

    def save(self, record: CrashRecord, module: bytes | None) -> StoredRecord:
        """Write ``record`` (and ``module``, unless already kept), then apply retention."""
        digest = str(record.document["module"]["sha256"])
        with self._locked():
            if module is not None:
                _write_once(self.module_path(digest), module)
            name = f"{record.id}.{digest[:_DIGEST_LENGTH]}{SUFFIX}"
            data = record.to_bytes()
            _write_atomically(self.directory / name, data)
            self._apply_retention(keep=record.id)
        return StoredRecord(record.id, self.directory / name, len(data), digest[:_DIGEST_LENGTH])

    def records(self) -> list[StoredRecord]:
        """Every record, oldest first."""
        found = []
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        for entry in entries:
            if not entry.name.endswith(SUFFIX) or entry.name.startswith("."):
                continue
            stem = entry.name[: -len(SUFFIX)]
            record_id, _, digest_prefix = stem.rpartition(".")
            try:
                size = entry.stat().st_size
            except FileNotFoundError:  # removed meanwhile by another process's retention
                continue
            found.append(StoredRecord(record_id, Path(entry.path), size, digest_prefix))
        found.sort(key=lambda stored: stored.id)
        return found

    def count(self) -> int:
        return len(self.records())

    def find(self, text: str) -> StoredRecord:
        """The record whose id is ``text`` or starts with it; raises ``RecordError``."""
        records = self.records()
        exact = [stored for stored in records if stored.id == text]
        matches = exact or [stored for stored in records if stored.id.startswith(text)]
        if not matches:
            raise RecordError(f"no crash record {text!r} in {self.directory}")
        if len(matches) > 1:
            shown = ", ".join(stored.id for stored in matches[:5])
            raise RecordError(f"{text!r} matches {len(matches)} records ({shown}); give more of it")
        return matches[0]

    def load(self, text: str) -> CrashRecord:
        return CrashRecord.load(self.find(text).path)

    def module_path(self, digest: str) -> Path:
        return self.directory / "modules" / f"{digest}.wasm"

    def module(self, digest: str) -> bytes | None:
        try:
            return self.module_path(digest).read_bytes()
        except OSError:
            return None

    def summaries(self, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """What a listing shows of each record (newest first): read from each record's
        document, without its binary members."""
        records = self.records()
        records.reverse()
        for stored in records[:limit] if limit is not None else records:
            try:
                with zipfile.ZipFile(stored.path) as archive:
                    document = json.loads(archive.read("record.json"))
            except (OSError, zipfile.BadZipFile, KeyError, ValueError):
                continue  # removed meanwhile, or damaged: the listing goes on
            yield summary(document, stored.size)

    def _apply_retention(self, keep: str) -> None:
        records = self.records()
        total = sum(stored.size for stored in records)
        while records and (len(records) > self.max_records or total > self.max_bytes):
            oldest = records[0]
            if oldest.id == keep and len(records) == 1:
                break  # a single record larger than the budget is still kept
            records.pop(0)
            total -= oldest.size
            with contextlib.suppress(FileNotFoundError):
                oldest.path.unlink()
        used = {stored.digest_prefix for stored in records}
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory / "modules"):
                if entry.name.endswith(".wasm") and entry.name[:_DIGEST_LENGTH] not in used:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        descriptor = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


def summary(document: dict[str, Any], size: int) -> dict[str, Any]:
    """One line's worth of a record: when, what, where it failed."""
    outcome = document.get("outcome", {})
    frames = outcome.get("backtrace") or []
    location = None
    if frames:
        top = frames[0]
        location = f"{top.get('name') or 'function ' + str(top.get('function'))}+{top['offset']}"
    return {
        "id": document.get("id"),
        "created": document.get("created"),
        "kind": document.get("kind"),
        "function": document.get("function"),
        "tenant": document.get("tenant"),
        "trigger": document.get("trigger"),
        "outcome": outcome.get("kind"),
        "status": outcome.get("status"),
        "trap": outcome.get("trap"),
        "location": location,
        "trace_id": document.get("trace_id"),
        "size": size,
    }


def _private_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.geteuid():
        raise OSError(f"the crash directory {directory} belongs to another user")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as file:  # mkstemp makes it 0600
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _write_once(target: Path, data: bytes) -> None:
    if not target.exists():
        _write_atomically(target, data)
