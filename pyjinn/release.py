"""Releases: a configuration and the exact module bytes it serves, verified once.

Under ``pyjinn up`` the supervisor reads every function's module when the configuration loads
or reloads, checks it against the function's trust policy, and keeps the bytes it accepted in a
content-addressed store (``DATA_DIR/modules/SHA256.wasm``). Workers load modules from that
store by digest, never from the paths in the Caddyfile: a module file replaced on disk changes
nothing until a reload makes a new release, so a worker restarted after a crash serves what the
others serve, and an unsigned replacement cannot slip in through a restart.

A release travels to workers started later inside the forked supervisor's memory, and to
running workers on reload as a file in a private directory (see ``pyjinn.server.supervisor``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pyjinn.config.model import Config, FunctionSpec
from pyjinn.engine.modules import read_module_bytes
from pyjinn.errors import ModuleError


class ModuleSource(Protocol):
    """Where a runtime gets the bytes of a function's module."""

    def module_bytes(self, spec: FunctionSpec) -> bytes:
        """The WebAssembly binary to run for ``spec``; raises ``ModuleError``."""
        ...


class ModuleFiles:
    """Modules read from their files as they are now, each checked by its function's policy:
    what ``pyjinn validate``, ``pyjinn run`` and an embedded ASGI app use."""

    def module_bytes(self, spec: FunctionSpec) -> bytes:
        return read_module_bytes(spec.module_path, spec.security)


class ModuleStore:
    """Accepted module bytes by SHA-256, in a directory only this user can reach."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise OSError(
                f"the module store {directory} is owned or writable by another user; make it "
                "private to the user running pyjinn (chmod 700)"
            )
        self.directory = directory

    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its digest."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        return digest

    def get(self, digest: str, where: Path) -> bytes:
        """The bytes stored under ``digest``, checked; ``where`` names the module in errors."""
        try:
            data = self.path(digest).read_bytes()
        except OSError as error:
            raise ModuleError(
                str(where),
                f"the accepted version {digest[:12]} is missing from the module "
                f"store ({error.strerror}); reload to accept the module again",
            ) from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModuleError(
                str(where),
                f"the accepted version {digest[:12]} in the module store was "
                "altered; reload to accept the module again",
            )
        return data

    def path(self, digest: str) -> Path:
        return self.directory / f"{digest}.wasm"

    def keep_only(self, digests: set[str]) -> None:
        """Remove every stored module not in ``digests``."""
        for entry in self.directory.glob("*.wasm"):
            if entry.stem not in digests:
                with contextlib.suppress(OSError):
                    entry.unlink()


@dataclass(frozen=True)
class Release:
    """A configuration and, for each of its functions, the digest of the module it serves."""

    config: Config
    digests: dict[str, str]  # function name -> sha256 of the accepted module
    store_dir: Path
    generation: int = 0  # counts the releases of one supervisor: 0 at start, +1 per reload

    def module_bytes(self, spec: FunctionSpec) -> bytes:
        digest = self.digests.get(spec.name)
        if digest is None:
            raise ModuleError(str(spec.module_path), "is not part of the release being served")
        try:
            store = ModuleStore(self.store_dir)
        except OSError as error:
            raise ModuleError(
                str(spec.module_path), f"cannot open the module store: {error}"
            ) from None
        return store.get(digest, spec.module_path)


def store_dir_for(config: Config) -> Path:
    return config.options.data_dir / "modules"


def make_release(config: Config, generation: int = 0) -> Release | list[str]:
    """Read and check every module of ``config`` and keep the accepted bytes; returns the
    release, or every problem found (``FILE:LINE: function 'NAME': ...``)."""
    try:
        store = ModuleStore(store_dir_for(config))
    except OSError as error:
        return [f"cannot prepare the module store: {error}"]
    digests: dict[str, str] = {}
    problems: list[str] = []
    for spec in config.functions():
        try:
            digests[spec.name] = store.put(ModuleFiles().module_bytes(spec))
        except ModuleError as error:
            where = f"{spec.location}: " if spec.location else ""
            problems.append(f"{where}function {spec.name!r}: {error}")
        except OSError as error:
            problems.append(f"cannot keep the module of function {spec.name!r}: {error}")
    if problems:
        return problems
    return Release(config, digests, store.directory, generation)


def write_release(release: Release, path: Path) -> None:
    """Write ``release`` for running workers to read, atomically, readable by this user only."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-release-")
    try:
        with os.fdopen(handle, "wb") as file:
            pickle.dump(release, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def read_release(path: Path) -> Release:
    """The release the supervisor wrote to ``path`` (a private file it alone writes)."""
    with open(path, "rb") as file:
        release = pickle.load(file)
    if not isinstance(release, Release):
        raise TypeError(f"{path} does not hold a release")
    return release
