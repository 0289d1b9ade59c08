"""Signing and verifying module files on disk: what ``pyjinn sign`` and ``pyjinn verify`` do."""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyjinn.errors import SigningError
from pyjinn.signing.gojinn import split_trailer
from pyjinn.signing.keys import PublicKey, SigningKey
from pyjinn.signing.signature import read_signed_module, sign_module
from pyjinn.signing.verify import Verdict, verify_module


@dataclass(frozen=True)
class SignedFile:
    """The outcome of signing a file: where it went, with which key, and what it replaced."""

    output: Path
    key_id: str
    replaced_own_signature: bool
    removed_gojinn_trailer: bool


def sign_file(module: Path, key: SigningKey, output: Path | None = None) -> SignedFile:
    """Sign the module file ``module`` with ``key``.

    Writes ``output`` (default: ``module`` itself) atomically: readers see the old file or the
    signed one, never a half-written file. A Gojinn signature trailer is removed first, since
    the signed module must stay a valid module. Raises ``SigningError`` if the module cannot be
    read or written or is not a well-framed WebAssembly core module.
    """
    data = read_module_file(module)
    gojinn = split_trailer(data)
    removed_trailer = gojinn is not None and not gojinn.also_valid
    if gojinn is not None and removed_trailer:
        data = gojinn.module
    try:
        replaced = key.key_id in read_signed_module(data).key_ids
        signed = sign_module(data, key)
    except SigningError as error:
        raise SigningError(f"cannot sign {module}: {error}") from None
    target = output if output is not None else module
    write_atomically(target, signed, mode=stat.S_IMODE(module.stat().st_mode))
    return SignedFile(target, key.key_id, replaced, removed_trailer)


def verify_file(module: Path, trusted_keys: tuple[PublicKey, ...]) -> Verdict:
    """Check the signatures of the module file ``module`` against ``trusted_keys``."""
    return verify_module(read_module_file(module), trusted_keys)


def read_module_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SigningError(f"cannot read {path}: {error.strerror}") from None


def write_atomically(target: Path, data: bytes, *, mode: int) -> None:
    """Replace ``target`` with ``data`` through a temporary file in the same directory."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as error:
        raise SigningError(f"cannot write {target}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
            os.fchmod(file.fileno(), mode)
        os.replace(temporary, target)
    except OSError as error:
        os.unlink(temporary)
        raise SigningError(f"cannot write {target}: {error.strerror}") from None
