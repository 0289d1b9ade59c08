"""The files of a function's mounts, kept in its record and laid out again for a replay.

Which files a guest reads is decided inside wasmtime's WASI, out of pyjinn's reach without a
Python call on every file operation. So a record keeps the mounts' contents instead: every
regular file and directory under each mount (symbolic links are not followed), with its
modification time, up to ``MAX_BYTES`` and ``MAX_FILES`` in all. They are read when the record is
written, after the response: a file changed in between (a ``rw`` mount the guest wrote to, say)
is kept as it was then. A replay recreates them in a scratch directory mounted at the same guest
path, with the same modes and times, so the guest reads what it read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from pyjinn.config.model import Mount
from pyjinn.debug.secrets import Secrets, Span, restore

MAX_BYTES = 16 * 1024 * 1024
MAX_FILES = 1000


def snapshot(
    mounts: tuple[Mount, ...], secrets: Secrets, members: dict[str, bytes], notes: list[str]
) -> list[dict[str, Any]]:
    """Describe ``mounts`` and keep their files as members ``mounts/INDEX/PATH``."""
    described = []
    budget = [MAX_BYTES, MAX_FILES]
    for index, mount in enumerate(mounts):
        entries: list[dict[str, Any]] = []
        complete = _walk(mount.host_dir, PurePosixPath(), index, entries, members, secrets, budget)
        if not complete:
            notes.append(
                f"mount {mount.guest_dir}: the record keeps only part of it (at most {MAX_FILES} "
                f"files and {MAX_BYTES // (1024 * 1024)} MiB in all); a replay sees that part"
            )
        described.append(
            {
                "host": str(mount.host_dir),
                "guest": mount.guest_dir,
                "writable": mount.writable,
                "entries": entries,
                "complete": complete,
            }
        )
    return described


def _walk(
    root: Path,
    relative: PurePosixPath,
    index: int,
    entries: list[dict[str, Any]],
    members: dict[str, bytes],
    secrets: Secrets,
    budget: list[int],
) -> bool:
    try:
        children = sorted(os.scandir(root / relative), key=lambda entry: entry.name)
    except OSError:
        return False
    complete = True
    for child in children:
        path = relative / child.name
        try:
            info = child.stat(follow_symlinks=False)
        except OSError:
            complete = False
            continue
        if stat.S_ISDIR(info.st_mode):
            entries.append({"path": str(path), "directory": True, "mtime_ns": info.st_mtime_ns})
            complete &= _walk(root, path, index, entries, members, secrets, budget)
        elif stat.S_ISREG(info.st_mode):
            if budget[1] <= 0 or info.st_size > budget[0]:
                complete = False
                continue
            try:
                data = (root / path).read_bytes()
            except OSError:
                complete = False
                continue
            budget[0] -= len(data)
            budget[1] -= 1
            data, spans = secrets.redact(data)
            members[f"mounts/{index}/{path}"] = data
            entry: dict[str, Any] = {
                "path": str(path),
                "size": len(data),
                "mode": stat.S_IMODE(info.st_mode),
                "mtime_ns": info.st_mtime_ns,
            }
            if spans:
                entry["redacted"] = [span.to_json() for span in spans]
            entries.append(entry)
        else:
            complete = False  # a symbolic link or a special file: not kept
    return complete


def lay_out(
    recorded: list[dict[str, Any]],
    members: dict[str, bytes],
    secrets: dict[str, bytes],
    scratch: Path,
    notes: list[str],
) -> list[Mount]:
    """Recreate the recorded mounts under ``scratch``; the mounts a replayed sandbox gets."""
    mounts = []
    for index, mount in enumerate(recorded):
        directory = scratch / f"mount-{index}"
        directory.mkdir()
        entries = mount.get("entries")
        if entries is None:
            notes.append(f"mount {mount['guest']}: the record keeps no files; it is empty here")
            entries = []
        directories = []
        for entry in entries:
            target = directory / _inside(entry["path"])
            if entry.get("directory"):
                target.mkdir(parents=True, exist_ok=True)
                directories.append((target, entry["mtime_ns"]))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            spans = [Span.from_json(item) for item in entry.get("redacted", ())]
            data = restore(members.get(f"mounts/{index}/{entry['path']}", b""), spans, secrets)
            target.write_bytes(data)
            target.chmod(entry.get("mode", 0o644))
            os.utime(target, ns=(entry["mtime_ns"], entry["mtime_ns"]))
        for target, mtime in reversed(directories):  # after their contents changed them
            os.utime(target, ns=(mtime, mtime))
        mounts.append(Mount(directory, mount["guest"], writable=bool(mount["writable"])))
    return mounts


def _inside(path: str) -> str:
    """``path`` as a relative path that cannot leave the mount (a record may be hand-made)."""
    parts = [part for part in PurePosixPath(path).parts if part not in ("", ".", "..", "/")]
    if not parts:
        raise ValueError(f"a recorded mount entry has no usable path: {path!r}")
    return str(PurePosixPath(*parts))


def needed_secrets(recorded: list[dict[str, Any]]) -> set[str]:
    return {
        Span.from_json(item).name
        for mount in recorded
        for entry in mount.get("entries", ())
        for item in entry.get("redacted", ())
    }
