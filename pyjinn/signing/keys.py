"""Ed25519 keys: parsing public keys, reading and creating key files, and key ids.

A public key is written as 64 hex digits or as base64 of its 32 bytes; a ``.pub`` file holds
either. Its key id is the first 16 hex digits of the SHA-256 of the 32 raw bytes: short enough
to read in a log line, long enough that two keys of one deployment never share it.

A private key file (``NAME.key``) holds the 32-byte Ed25519 seed as hex. Gojinn's ``NAME.priv``
(128 hex digits: Go's 64-byte private key, the seed followed by the public key) is accepted too.
Private key material never appears in a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from pyjinn.errors import SigningError

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
KEY_ID_LENGTH = 16
PRIVATE_KEY_SUFFIXES = (".key", ".priv")
PUBLIC_KEY_FORM = "an Ed25519 public key as 64 hex digits or base64 of 32 bytes"

_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


def key_id_of(raw_public_key: bytes) -> str:
    """The key id of a raw 32-byte public key: 16 hex digits of its SHA-256."""
    return hashlib.sha256(raw_public_key).hexdigest()[:KEY_ID_LENGTH]


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key that signatures are checked against."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != PUBLIC_KEY_SIZE:
            raise SigningError(f"expected {PUBLIC_KEY_FORM}; got {len(self.raw)} bytes")

    @property
    def key_id(self) -> str:
        return key_id_of(self.raw)

    @property
    def hex(self) -> str:
        return self.raw.hex()

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"PublicKey(key_id={self.key_id!r})"


class SigningKey:
    """An Ed25519 private key. Its ``repr`` shows the key id only."""

    __slots__ = ("_private", "public_key")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = PublicKey(raw)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != SEED_SIZE:
            raise SigningError(f"an Ed25519 seed has {SEED_SIZE} bytes, not {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def seed_hex(self) -> str:
        """The seed as hex, for writing the key file. Never log or print it."""
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return raw.hex()

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"


def parse_public_key(text: str) -> PublicKey:
    """A public key written as 64 hex digits or base64 (standard or URL-safe) of 32 bytes.

    Raises ``SigningError`` saying what was expected; the message describes the value by its
    length only, since a private key pasted by mistake must not end up in a log.
    """
    text = text.strip()
    if len(text) == 2 * PUBLIC_KEY_SIZE and _HEX.fullmatch(text):
        return PublicKey(bytes.fromhex(text))
    if _BASE64.fullmatch(text):
        try:
            raw = base64.b64decode(_standard_base64(text), validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) == PUBLIC_KEY_SIZE:
            return PublicKey(raw)
    hint = ""
    if len(text) == 4 * SEED_SIZE and _HEX.fullmatch(text):
        hint = " (128 hex digits is a Gojinn private key: trust its .pub file instead)"
    raise SigningError(f"expected {PUBLIC_KEY_FORM}, got {len(text)} characters{hint}")


def read_public_key_file(path: Path, *, name: str | None = None) -> PublicKey:
    """The public key held in ``path`` (a ``.pub`` file: hex or base64, surrounding space ignored).

    ``name`` is how messages call the file (default: ``path``). Raises ``SigningError`` if the
    file cannot be read, is a private key file, or holds something else; the message never
    quotes the file's content.
    """
    shown = name if name is not None else str(path)
    if path.suffix in PRIVATE_KEY_SUFFIXES:
        public = Path(shown).with_suffix(".pub")
        raise SigningError(f"{shown} is a private key file; trust its public key ({public})")
    text = _read_key_text(path, shown)
    try:
        return parse_public_key(text)
    except SigningError as error:
        raise SigningError(f"{shown} does not hold a public key: {error}") from None


def load_public_key(text: str) -> PublicKey:
    """A public key given on a command line: a key written out, or a path to a ``.pub`` file."""
    try:
        return parse_public_key(text)
    except SigningError as error:
        path = Path(text)
        if path.is_file():
            return read_public_key_file(path)
        # Only a name that looks like a file is echoed: the text might be a mistyped secret.
        missing = f" (no such file: {text})" if path.suffix == ".pub" else ""
        raise SigningError(f"{error}, or a .pub file{missing}") from None


def read_signing_key(path: Path) -> SigningKey:
    """The private key in ``path``: a pyjinn ``.key`` (seed hex) or a Gojinn ``.priv`` file.

    Raises ``SigningError`` if the file cannot be read or does not hold a private key.
    """
    text = _read_key_text(path)
    if _HEX.fullmatch(text) and len(text) == 2 * SEED_SIZE:
        return SigningKey.from_seed(bytes.fromhex(text))
    if _HEX.fullmatch(text) and len(text) == 4 * SEED_SIZE:
        raw = bytes.fromhex(text)
        key = SigningKey.from_seed(raw[:SEED_SIZE])
        if key.public_key.raw != raw[SEED_SIZE:]:
            raise SigningError(
                f"{path} holds a 64-byte Gojinn private key whose public half does not match "
                "its seed; the file is damaged"
            )
        return key
    raise SigningError(
        f"{path} does not hold a private key: expected the 32-byte Ed25519 seed as 64 hex "
        "digits (pyjinn keygen) or a Gojinn .priv file (128 hex digits)"
    )


@dataclass(frozen=True)
class KeyFiles:
    """The two files ``pyjinn keygen`` writes and the public key they hold."""

    private_file: Path
    public_file: Path
    public_key: PublicKey


def generate_key_files(name: Path) -> KeyFiles:
    """Create a new key pair as ``NAME.key`` (the seed, mode 0600) and ``NAME.pub``.

    Neither file is ever overwritten: if either exists, ``SigningError`` is raised and nothing
    is written. The private key file is created exclusively (``O_EXCL``) with mode 0600, so
    no other user can read it at any moment.
    """
    private_file = Path(f"{name}.key")
    public_file = Path(f"{name}.pub")
    for path in (private_file, public_file):
        if path.exists() or path.is_symlink():
            raise SigningError(f"{path} already exists; pyjinn keygen never overwrites a key")
    key = SigningKey.generate()
    _create_exclusively(private_file, key.seed_hex() + "\n", mode=0o600)
    try:
        _create_exclusively(public_file, key.public_key.hex + "\n", mode=0o644)
    except SigningError:
        private_file.unlink()
        raise
    return KeyFiles(private_file, public_file, key.public_key)


def _create_exclusively(path: Path, text: str, *, mode: int) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SigningError(f"{path} already exists; pyjinn keygen never overwrites a key") from None
    except OSError as error:
        raise SigningError(f"cannot create {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            os.fchmod(file.fileno(), mode)  # the umask may only remove bits; make it exact
            file.write(text)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise SigningError(f"cannot write {path}: {error.strerror}") from None


def _read_key_text(path: Path, shown: str | None = None) -> str:
    shown = shown if shown is not None else str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"key file not found: {shown}") from None
    except OSError as error:
        raise SigningError(f"cannot read key file {shown}: {error.strerror}") from None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise SigningError(f"{shown} is not a text key file (hex or base64)") from None


def _standard_base64(text: str) -> str:
    text = text.replace("-", "+").replace("_", "/")
    return text + "=" * (-len(text) % 4)
