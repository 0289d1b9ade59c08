"""The embedded object store: one file per object under ``<root>/<tenant>/``.

- **Layout.** A key becomes one file name, ``/`` written as ``%`` (which no key holds), so keys
  ``a`` and ``a/b`` can both exist, as in S3, and no key can climb out of its tenant's
  directory. Directories are 0700, files 0600.
- **Atomic writes.** An object is written to a temporary file (``.``-prefixed, which no key
  is), flushed to disk, then renamed over the old one: readers see the old object or the new
  one, never a mix, and a crash leaves no half-written object.
- **Reads** open the file without following symbolic links and check its size before reading.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from pyjinn.backends.blobs import (
    MAX_LISTED,
    BlobInfo,
    BlobStoreUnavailable,
    BlobTooLarge,
    TooManyObjects,
)

_SEPARATOR = "%"


def file_name(key: str) -> str:
    return key.replace("/", _SEPARATOR)


def key_of(name: str) -> str:
    return name.replace(_SEPARATOR, "/")


class FilesystemBlobStore:
    """Objects in files under ``root`` (the bucket's directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, tenant: str, key: str, data: bytes, *, timeout: float) -> None:
        directory = self._directory(tenant, create=True)
        temporary = os.path.join(directory, f".{secrets.token_hex(8)}.tmp")
        try:
            descriptor = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(descriptor, view) :]
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, os.path.join(directory, file_name(key)))
            _sync_directory(directory)
        except OSError as error:
            _remove_quietly(temporary)
            raise BlobStoreUnavailable(f"cannot store the object: {error.strerror}") from None

    def get(self, tenant: str, key: str, *, max_size: int, timeout: float) -> bytes | None:
        path = os.path.join(self._directory(tenant, create=False), file_name(key))
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise BlobStoreUnavailable(f"cannot read the object: {error.strerror}") from None
        try:
            size = os.fstat(descriptor).st_size
            if size > max_size:
                raise BlobTooLarge(f"the object is {size} bytes, more than {max_size}")
            chunks = []
            while size > 0:
                chunk = os.read(descriptor, size)
                if not chunk:
                    break
                chunks.append(chunk)
                size -= len(chunk)
            return b"".join(chunks)
        except OSError as error:
            raise BlobStoreUnavailable(f"cannot read the object: {error.strerror}") from None
        finally:
            os.close(descriptor)

    def delete(self, tenant: str, key: str, *, timeout: float) -> None:
        path = os.path.join(self._directory(tenant, create=False), file_name(key))
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise BlobStoreUnavailable(f"cannot delete the object: {error.strerror}") from None

    def list(self, tenant: str, prefix: str, *, timeout: float) -> list[BlobInfo]:
        directory = self._directory(tenant, create=False)
        wanted = file_name(prefix)
        found: list[BlobInfo] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(".") or not name.startswith(wanted):
                        continue
                    try:
                        size = entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue  # deleted while listing
                    found.append(BlobInfo(key_of(name), size))
                    if len(found) > MAX_LISTED:
                        raise TooManyObjects(
                            f"more than {MAX_LISTED} objects start with {prefix!r}; "
                            "list a longer prefix"
                        )
        except FileNotFoundError:
            return []
        except OSError as error:
            raise BlobStoreUnavailable(f"cannot list objects: {error.strerror}") from None
        found.sort(key=lambda info: info.key)
        return found

    def close(self) -> None:
        pass

    def _directory(self, tenant: str, *, create: bool) -> str:
        directory = os.path.join(self.root, tenant)
        if create:
            try:
                os.makedirs(directory, mode=0o700, exist_ok=True)
            except OSError as error:
                raise BlobStoreUnavailable(
                    f"cannot create the tenant's directory: {error.strerror}"
                ) from None
        return directory


def _sync_directory(directory: str) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
