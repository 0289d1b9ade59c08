"""Releases: a configuration and the exact module bytes it serves, verified once.

Under ``pyjinn up`` the supervisor reads every function's module when the configuration loads
or reloads, checks it against the function's trust policy, and keeps the bytes it accepted in a
content-addressed store (``DATA_DIR/modules/SHA256.wasm``). Workers load modules from that
store by digest, never from the paths in the Caddyfile: a module file replaced on disk changes
nothing until a reload makes a new release, so a worker restarted after a crash serves what the
others serve, and an unsigned replacement cannot slip in through a restart.

A release travels to workers started later inside the forked supervisor's memory, and to
running workers on reload as a file in a private directory (see ``pyjinn.server.supervisor``).

A deploy (``pyjinn deploy``) or a rollback makes a release in which one function's digest
changed. :class:`Deployments` remembers, per function, the last versions served and which one a
deploy *pinned*: a pinned version keeps serving across reloads and restarts for as long as the
function's module file holds what it held when the deploy was made; a new file (a build, a copy)
wins over the pin. Its record is ``DATA_DIR/deployments.json``, written by the supervisor alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pyjinn.config.model import DEFAULT_KEEP_VERSIONS, Config, FunctionSpec
from pyjinn.engine.modules import accept_module_bytes, read_module_bytes
from pyjinn.errors import ModuleError

log = logging.getLogger("pyjinn.release")

DEPLOYMENTS_FILE = "deployments.json"


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


class ModulesReadOnce:
    """Modules read from their files (checked by each function's policy) the first time they
    are asked for, then the same bytes every time: an app made by ``create_app`` serves what it
    checked when it was made, whatever happens to the files later."""

    def __init__(self) -> None:
        self._read: dict[str, bytes] = {}

    def module_bytes(self, spec: FunctionSpec) -> bytes:
        data = self._read.get(spec.name)
        if data is None:
            data = self._read[spec.name] = ModuleFiles().module_bytes(spec)
        return data


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
        with contextlib.suppress(FileNotFoundError):
            os.utime(target)  # stored just now, as far as keep_only is concerned
            return digest
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

    def keep_only(self, digests: set[str], *, younger_than: float = 0.0) -> None:
        """Remove every stored module not in ``digests`` and stored at least ``younger_than``
        seconds ago."""
        cutoff = time.time() - younger_than
        for entry in self.directory.glob("*.wasm"):
            if entry.stem not in digests:
                with contextlib.suppress(OSError):
                    if younger_than <= 0 or entry.stat().st_mtime < cutoff:
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


def make_release(
    config: Config, generation: int = 0, deployments: Deployments | None = None
) -> Release | list[str]:
    """Read and check every module of ``config`` and keep the accepted bytes; returns the
    release, or every problem found (``FILE:LINE: function 'NAME': ...``). With
    ``deployments``, a function whose file is unchanged since its last deploy serves the
    deployed version (checked again by the function's policy), and the history is updated."""
    try:
        store = ModuleStore(store_dir_for(config))
    except OSError as error:
        return [f"cannot prepare the module store: {error}"]
    digests: dict[str, str] = {}
    problems: list[str] = []
    for spec in config.functions():
        try:
            file_digest = store.put(ModuleFiles().module_bytes(spec))
            digests[spec.name] = (
                file_digest
                if deployments is None
                else deployments.served_version(spec, file_digest, store)
            )
        except ModuleError as error:
            where = f"{spec.location}: " if spec.location else ""
            problems.append(f"{where}function {spec.name!r}: {error}")
        except OSError as error:
            problems.append(f"cannot keep the module of function {spec.name!r}: {error}")
    if problems:
        return problems
    return Release(config, digests, store.directory, generation)


def accept_version(spec: FunctionSpec, digest: str, store: ModuleStore) -> str:
    """Check the stored version ``digest`` by ``spec``'s trust policy, as a new module file
    would be; returns the digest to serve (the same, unless a Gojinn trailer was removed).
    Raises ``ModuleError``."""
    data = store.get(digest, spec.module_path)
    accepted = accept_module_bytes(spec.module_path, data, spec.security)
    return digest if accepted is data else store.put(accepted)


@dataclass
class Version:
    """One version a function served: its digest, since when, and how it came to be served
    (``config``: its module file at a start or reload; ``deploy``; ``rollback``)."""

    sha256: str
    since: float
    how: str


@dataclass
class _History:
    versions: list[Version] = field(default_factory=list)  # oldest first; the last is served
    pinned: str | None = None  # a deployed digest that overrides the file...
    file_sha256: str | None = None  # ...while the file still holds this


class Deployments:
    """Per function, the versions served (newest last) and the deployed pin, kept in
    ``data_dir/deployments.json``. Owned by the supervisor; others read the file."""

    def __init__(self, data_dir: Path, keep: int = DEFAULT_KEEP_VERSIONS) -> None:
        self.path = data_dir / DEPLOYMENTS_FILE
        self.keep = keep  # versions per function kept in the store and history, for rollbacks
        self.functions: dict[str, _History] = {}
        self.file_digests: dict[str, str] = {}  # what each module file held at the last release
        try:
            document = json.loads(self.path.read_text())
            for name, entry in document.get("functions", {}).items():
                self.functions[name] = _History(
                    [Version(**version) for version in entry.get("versions", [])],
                    entry.get("pinned"),
                    entry.get("file_sha256"),
                )
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError) as error:
            log.warning("Ignoring the deployment record %s: %s", self.path, error)

    def served_version(self, spec: FunctionSpec, file_digest: str, store: ModuleStore) -> str:
        """What ``spec`` serves when its file holds ``file_digest``: the pinned deploy while the
        file is unchanged since, else the file's (which ends the pin)."""
        history = self.functions.setdefault(spec.name, _History())
        self.file_digests[spec.name] = file_digest
        if history.pinned is not None and history.file_sha256 == file_digest:
            try:
                return accept_version(spec, history.pinned, store)
            except ModuleError as error:
                log.warning(
                    "Function %r serves its module file again: its deployed version %s is "
                    "no longer accepted (%s).",
                    spec.name,
                    history.pinned[:12],
                    error,
                )
        history.pinned = history.file_sha256 = None
        self._served(history, file_digest, "config")
        return file_digest

    def record(self, name: str, digest: str, how: str) -> None:
        """``name`` now serves ``digest`` through a deploy or rollback, pinned over what its
        module file holds now."""
        history = self.functions.setdefault(name, _History())
        history.pinned, history.file_sha256 = digest, self.file_digests.get(name)
        self._served(history, digest, how)

    def _served(self, history: _History, digest: str, how: str) -> None:
        if history.versions and history.versions[-1].sha256 == digest:
            return
        history.versions = [v for v in history.versions if v.sha256 != digest]
        history.versions.append(Version(digest, round(time.time(), 3), how))
        del history.versions[: -self.keep]

    def versions(self, name: str) -> list[Version]:
        history = self.functions.get(name)
        return list(history.versions) if history is not None else []

    def rollback_target(self, name: str, prefix: str | None) -> str:
        """The digest a rollback of ``name`` goes to: the version before the one served, or
        the kept version whose digest starts with ``prefix``. Raises ``LookupError``."""
        versions = self.versions(name)
        if prefix is None:
            if len(versions) < 2:
                raise LookupError(f"function {name!r} has no earlier version to roll back to")
            return versions[-2].sha256
        found = [v.sha256 for v in versions if v.sha256.startswith(prefix.lower())]
        if len(found) != 1:
            kept = ", ".join(v.sha256[:12] for v in reversed(versions)) or "none"
            what = "no" if not found else "more than one"
            raise LookupError(
                f"{what} kept version of function {name!r} starts with {prefix!r} "
                f"(kept, newest first: {kept})"
            )
        return found[0]

    def kept_digests(self) -> set[str]:
        return {v.sha256 for h in self.functions.values() for v in h.versions} | {
            h.pinned for h in self.functions.values() if h.pinned is not None
        }

    def forget_except(self, names: set[str]) -> None:
        """Drop the history of functions no longer configured."""
        for name in set(self.functions) - names:
            del self.functions[name]

    def document(self) -> dict[str, Any]:
        return {
            "functions": {
                name: {
                    "versions": [asdict(v) for v in h.versions],
                    "pinned": h.pinned,
                    "file_sha256": h.file_sha256,
                }
                for name, h in sorted(self.functions.items())
            }
        }

    def save(self) -> None:
        """Write the record atomically, readable by this user only."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-deployments-")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(self.document(), file, indent=1)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def read_versions(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each function's versions, newest first, as the supervisor last recorded them (for
    ``/status``); empty when there is no record."""
    try:
        document = json.loads((data_dir / DEPLOYMENTS_FILE).read_text())
        return {
            name: list(reversed(entry.get("versions", [])))
            for name, entry in document.get("functions", {}).items()
        }
    except (OSError, ValueError, AttributeError):
        return {}


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
