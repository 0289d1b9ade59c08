"""Compiled code on disk, trusted only when it carries this installation's integrity tag.

A cache entry is native code that runs without further checks, so an entry is used only if:

- its directory belongs to us and nobody else can write it (otherwise the cache is off);
- it starts with an HMAC-SHA256 tag over the wasmtime version, the module's digest and the
  compiled artifact, keyed by a secret generated once per cache directory (``integrity.key``,
  mode 0600). A truncated or overwritten entry, or one copied under another module's name
  (an unsigned module's code under a signed module's digest), fails the check: it is logged,
  discarded and recompiled.

Entries are read into memory and handed to wasmtime from there, never mapped: a file that
another process truncates or rewrites later cannot take a running worker down with it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger("pyjinn.engine")

KEY_FILE = "integrity.key"
_KEY_BYTES = 32
_TAG_BYTES = hashlib.sha256().digest_size
_MAGIC = b"pyjinn-cwasm-1\n"


class CompileCache:
    """The compile cache in one directory; build it with ``open``."""

    def __init__(self, directory: Path, key: bytes, engine_version: str) -> None:
        self.directory = directory
        self._key = key
        self._context = b"%s\0" % engine_version.encode()

    @classmethod
    def open(cls, directory: Path, engine_version: str) -> CompileCache | None:
        """The cache in ``directory`` (created private), or None when it must not be used:
        it cannot be created, or another user could write it or read its key."""
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = directory.stat()
        except OSError as error:
            log.warning(
                "Compile cache %s is unavailable (%s); compiling in memory.", directory, error
            )
            return None
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            log.warning(
                "Compile cache %s is writable by other users or owned by another user; not "
                "using it, because its files are executed as native code.",
                directory,
            )
            return None
        try:
            key = _installation_key(directory / KEY_FILE)
        except (OSError, ValueError) as error:
            log.warning("Compile cache %s is not used: %s.", directory, error)
            return None
        return cls(directory, key, engine_version)

    def entry(self, digest: str) -> Path:
        return self.directory / f"{digest}.cwasm"

    def get(self, digest: str) -> bytes | None:
        """The compiled artifact for ``digest`` if a verified entry exists; a damaged or
        foreign entry is logged and removed."""
        path = self.entry(digest)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            log.warning("Cannot read compile cache entry %s (%s); recompiling.", path, error)
            return None
        header = len(_MAGIC) + _TAG_BYTES
        artifact = data[header:]
        if (
            len(data) > header
            and data.startswith(_MAGIC)
            and hmac.compare_digest(data[len(_MAGIC) : header], self._tag(digest, artifact))
        ):
            return artifact
        self.discard(digest, "its integrity tag does not match its content")
        return None

    def put(self, digest: str, artifact: bytes) -> None:
        """Store ``artifact`` for ``digest``, atomically; a failure only costs a recompile."""
        target = self.entry(digest)
        data = b"".join((_MAGIC, self._tag(digest, artifact), artifact))
        try:
            _write_atomically(target, data)
        except OSError as error:
            log.warning("Cannot write compile cache entry %s: %s.", target, error)

    def discard(self, digest: str, why: str) -> None:
        """Remove ``digest``'s entry, saying why; it is recompiled and written again."""
        path = self.entry(digest)
        log.warning("Ignoring unusable compile cache entry %s (%s); recompiling.", path, why)
        with contextlib.suppress(OSError):
            path.unlink()

    def _tag(self, digest: str, artifact: bytes) -> bytes:
        mac = hmac.new(self._key, self._context, hashlib.sha256)
        mac.update(digest.encode() + b"\0")
        mac.update(artifact)
        return mac.digest()


def _installation_key(path: Path) -> bytes:
    """The key in ``path``, generated on first use; only a private, well-formed key is used."""
    try:
        key = _read_private(path)
    except FileNotFoundError:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-key-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(os.urandom(_KEY_BYTES))
            # A link never replaces: when two workers race, both end up reading the winner's.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
        key = _read_private(path)
    if len(key) != _KEY_BYTES:
        raise ValueError(f"its key {path} is not {_KEY_BYTES} bytes long")
    return key


def _read_private(path: Path) -> bytes:
    with open(path, "rb") as file:
        info = os.fstat(file.fileno())
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(f"its key {path} is readable or writable by other users")
        return file.read(_KEY_BYTES + 1)


def _write_atomically(target: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".cwasm")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
