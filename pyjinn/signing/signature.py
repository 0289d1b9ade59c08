"""pyjinn's signature format: Ed25519 signatures in ``pyjinn.signature`` custom sections.

A signed module stays a valid module that any runtime loads: each signature is one custom
section named ``pyjinn.signature`` whose content is canonical JSON (keys sorted, no spaces,
ASCII)::

    {"algorithm":"ed25519","key_id":"3f2a…","signature":"<128 hex digits>",
     "signed_at":"2025-06-01T12:00:00Z","version":1}

The signature is over this domain-separated message, one ``name value`` per line, each line
ending in ``\\n``::

    pyjinn module signature
    version 1
    algorithm ed25519
    key_id 3f2a…
    signed_at 2025-06-01T12:00:00Z
    module_sha256 <64 hex digits>

where ``module_sha256`` is the SHA-256 of the module with every ``pyjinn.signature`` section
removed. So signatures by several keys coexist (adding one does not change what the others
signed), every recorded field is signed, and since a section must be exactly the canonical
JSON of its fields, no byte of it can change without the signature failing or the section
being refused as malformed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from pyjinn.errors import SigningError
from pyjinn.signing.keys import KEY_ID_LENGTH, SIGNATURE_SIZE, SigningKey
from pyjinn.signing.sections import Section, custom_section, read_sections, without

SECTION_NAME = "pyjinn.signature"
FORMAT_VERSION = 1
ALGORITHM = "ed25519"
MESSAGE_HEADER = "pyjinn module signature"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_FIELDS = frozenset({"algorithm", "key_id", "signature", "signed_at", "version"})
_KEY_ID = re.compile(rf"[0-9a-f]{{{KEY_ID_LENGTH}}}")
_SIGNATURE = re.compile(rf"[0-9a-f]{{{2 * SIGNATURE_SIZE}}}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@dataclass(frozen=True)
class SignatureRecord:
    """One signature of a module: who signed (key id), when, and the signature bytes."""

    key_id: str
    signed_at: str
    signature: bytes
    version: int = FORMAT_VERSION
    algorithm: str = ALGORITHM

    def content(self) -> bytes:
        """The section content: canonical JSON of every field."""
        document = {
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
            "signed_at": self.signed_at,
            "version": self.version,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_content(cls, content: bytes) -> SignatureRecord:
        """Parse a section's content; raises ``SigningError`` unless it is exactly canonical."""
        try:
            document = json.loads(content.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise SigningError("its content is not JSON") from None
        if not isinstance(document, dict) or set(document) != _FIELDS:
            fields = ", ".join(sorted(_FIELDS))
            raise SigningError(f"expected a JSON object with the fields {fields}")
        version, algorithm = document["version"], document["algorithm"]
        if type(version) is not int or version != FORMAT_VERSION:
            raise SigningError(
                f"unsupported format version {version!r} (this pyjinn reads version "
                f"{FORMAT_VERSION})"
            )
        if algorithm != ALGORITHM:
            raise SigningError(f"unsupported algorithm {algorithm!r} (expected {ALGORITHM})")
        key_id, signed_at, signature = (
            document["key_id"],
            document["signed_at"],
            document["signature"],
        )
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise SigningError(f"key_id must be {KEY_ID_LENGTH} lowercase hex digits")
        if not isinstance(signed_at, str) or not _is_timestamp(signed_at):
            raise SigningError("signed_at must be a UTC time like 2025-06-01T12:00:00Z")
        if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
            raise SigningError(f"signature must be {2 * SIGNATURE_SIZE} lowercase hex digits")
        record = cls(key_id, signed_at, bytes.fromhex(signature), version, algorithm)
        if record.content() != content:
            raise SigningError("its JSON is not in canonical form (sorted keys, no spaces)")
        return record

    def message(self, module_sha256: bytes) -> bytes:
        """What the signature signs: these fields bound to the module's digest."""
        return signing_message(module_sha256, self.key_id, self.signed_at)


def signing_message(module_sha256: bytes, key_id: str, signed_at: str) -> bytes:
    """The domain-separated message a version 1 ``ed25519`` signature is over."""
    lines = (
        MESSAGE_HEADER,
        f"version {FORMAT_VERSION}",
        f"algorithm {ALGORITHM}",
        f"key_id {key_id}",
        f"signed_at {signed_at}",
        f"module_sha256 {module_sha256.hex()}",
    )
    return "".join(line + "\n" for line in lines).encode("ascii")


@dataclass(frozen=True)
class SignedModule:
    """A module split into what was signed and the signatures on it."""

    content: bytes
    records: tuple[SignatureRecord, ...]

    @property
    def sha256(self) -> bytes:
        """The digest every signature binds: the module without its signature sections."""
        return hashlib.sha256(self.content).digest()

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(record.key_id for record in self.records))


def read_signed_module(data: bytes) -> SignedModule:
    """Split ``data`` into its signed content and its ``pyjinn.signature`` records.

    Raises ``SigningError`` if ``data`` is not a well-framed core module ("malformed
    WebAssembly binary: ...") or a signature section is malformed ("malformed signature
    section at offset N: ...").
    """
    signatures = _signatures(data)
    return SignedModule(
        without(data, [section for section, _ in signatures]),
        tuple(record for _, record in signatures),
    )


def sign_module(data: bytes, key: SigningKey, *, now: datetime | None = None) -> bytes:
    """``data`` with a signature by ``key`` added as its last section.

    A signature by the same key is replaced; signatures by other keys stay valid. Raises
    ``SigningError`` if ``data`` is not a well-framed core module or already holds a malformed
    signature section.
    """
    signatures = _signatures(data)
    content = without(data, [section for section, _ in signatures])
    signed_at = (now or datetime.now(UTC)).astimezone(UTC).strftime(TIME_FORMAT)
    message = signing_message(hashlib.sha256(content).digest(), key.key_id, signed_at)
    record = SignatureRecord(key.key_id, signed_at, key.sign(message))
    own = [section for section, old in signatures if old.key_id == key.key_id]
    return without(data, own) + custom_section(SECTION_NAME, record.content())


def _signatures(data: bytes) -> list[tuple[Section, SignatureRecord]]:
    try:
        sections = read_sections(data)
    except SigningError as error:
        raise SigningError(f"malformed WebAssembly binary: {error}") from None
    signatures = []
    for section in sections:
        if section.is_custom and section.name == SECTION_NAME:
            try:
                record = SignatureRecord.from_content(data[section.body : section.end])
            except SigningError as error:
                raise SigningError(
                    f"malformed signature section at offset {section.start}: {error}"
                ) from None
            signatures.append((section, record))
    return signatures


def _is_timestamp(text: str) -> bool:
    if not _TIMESTAMP.fullmatch(text):
        return False
    try:
        datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return False
    return True
