"""The log tap: what ``pyjinn logs`` reads. Under ``pyjinn up`` every worker also appends its
function-tagged records (access records and guest logs, as JSON lines) to a file of its own in
the supervisor's private state directory, ``logs/worker-PID.jsonl``, rotated past
``MAX_BYTES`` (one older file kept). The admin process reads those files: the last records of
one function, or new ones as they are written (``GET /logs?function=F&follow=1``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

MAX_BYTES = 4 * 1024 * 1024
FOLLOW_INTERVAL = 0.2
SUFFIX = ".jsonl"


class LogTap:
    """One process's tap file: appended to, rotated when it grows past ``max_bytes``."""

    def __init__(self, directory: Path, max_bytes: int = MAX_BYTES) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / f"worker-{os.getpid()}{SUFFIX}"
        self.max_bytes = max_bytes
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a full disk must not fail a request
            if os.fstat(self._fd).st_size + len(data) > self.max_bytes:
                os.replace(self.path, self.path.with_suffix(".old"))
                os.close(self._fd)
                self._fd = self._open()
            os.write(self._fd, data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class TapHandler(logging.Handler):
    """Sends log records that name a function (guest logs, failures) to a tap, as JSON."""

    def __init__(self, tap: LogTap) -> None:
        from pyjinn.logs import JsonFormatter  # pyjinn.logs imports this module's users

        super().__init__()
        self.tap = tap
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        if "function" in record.__dict__ and record.name != "pyjinn.access":
            self.tap.write(self.format(record).encode("utf-8", "replace") + b"\n")


# The tap of this process, set by install(); the access writer writes to it too.
tap: LogTap | None = None


def install(directory: Path) -> None:
    """Tap this process's function records into ``directory``."""
    global tap
    tap = LogTap(directory)
    logging.getLogger().addHandler(TapHandler(tap))


def remove(path: Path) -> None:
    """Forget the tap file of a process that is gone."""
    for name in (path, path.with_suffix(".old")):
        with contextlib.suppress(OSError):
            name.unlink()


def _matches(line: bytes, function: str | None) -> dict[str, object] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    if function is not None and record.get("function") != function:
        return None
    return record


def recent(directory: Path, function: str | None, count: int) -> list[dict[str, object]]:
    """The last ``count`` records of ``function`` (of every function with None), oldest first,
    from every worker's tap."""
    records: list[dict[str, object]] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")) + sorted(directory.glob("*.old")):
        with contextlib.suppress(OSError):
            for line in path.read_bytes().splitlines():
                record = _matches(line, function)
                if record is not None:
                    records.append(record)
    records.sort(key=lambda record: str(record.get("time", "")))
    return records[-count:] if count > 0 else []


async def follow(directory: Path, function: str | None) -> AsyncIterator[dict[str, object]]:
    """Records of ``function`` as workers write them, from now on, until cancelled."""
    offsets: dict[Path, int] = {}
    for path in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            offsets[path] = path.stat().st_size
    pending: dict[Path, bytes] = {}
    while True:
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            try:
                size = path.stat().st_size
            except OSError:
                continue
            offset = offsets.get(path, 0)
            if size < offset:  # rotated: a new file from its start
                offset, pending[path] = 0, b""
            if size == offset:
                continue
            with open(path, "rb") as file:
                file.seek(offset)
                data = pending.get(path, b"") + file.read(size - offset)
            offsets[path] = size
            *lines, pending[path] = data.split(b"\n")
            for line in lines:
                record = _matches(line, function)
                if record is not None:
                    yield record
        await asyncio.sleep(FOLLOW_INTERVAL)
