"""Deciding whether a module file is signed by a trusted key, in either format.

The verdict is the same for the CLI (``pyjinn verify``) and the trust policy: a module is
trusted when at least one signature by a trusted key verifies and none by a trusted key fails.
Signatures by keys that are not trusted cannot be checked and do not count either way. A
malformed signature section makes the whole module untrusted, whatever else it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyjinn.errors import SigningError
from pyjinn.signing.gojinn import TRAILER_SIZE, split_trailer
from pyjinn.signing.keys import PublicKey
from pyjinn.signing.sections import WASM_MAGIC, is_well_framed
from pyjinn.signing.signature import SECTION_NAME, read_signed_module

SignatureFormat = Literal["pyjinn", "gojinn", "none"]

UNSIGNED = f"unsigned: no {SECTION_NAME} section and no Gojinn signature trailer"
UNSIGNED_TEXT = (
    "unsigned: not a WebAssembly binary, so it carries no signature (a .wat text module cannot "
    "be signed; assemble it to .wasm and sign that)"
)
GOJINN_UNVERIFIED = (
    "Gojinn signature does not verify against any trusted key (the module changed after "
    "signing, or a key that is not trusted signed it)"
)


@dataclass(frozen=True)
class Verdict:
    """What verification found in a module file.

    ``problem`` is None when the module is trusted; otherwise it says why not, naming key ids.
    ``trusted_by`` lists the trusted key ids whose signatures verify, ``key_ids`` every key id
    seen. ``trailer_size`` is how many bytes at the end are a Gojinn trailer to strip.
    """

    format: SignatureFormat
    problem: str | None
    trusted_by: tuple[str, ...] = ()
    key_ids: tuple[str, ...] = ()
    trailer_size: int = 0

    @property
    def is_trusted(self) -> bool:
        return self.problem is None

    def module_bytes(self, data: bytes) -> bytes:
        """The WebAssembly module in the file ``data`` this verdict is about."""
        return data[: len(data) - self.trailer_size]


def verify_module(data: bytes, trusted_keys: tuple[PublicKey, ...]) -> Verdict:
    """Check the signatures in the module file ``data`` against ``trusted_keys``."""
    if not data.startswith(WASM_MAGIC):
        return Verdict("none", UNSIGNED_TEXT)
    try:
        module = read_signed_module(data)
    except SigningError as error:
        if not is_well_framed(data):
            gojinn = _verify_gojinn(data, trusted_keys)
            if gojinn is not None:
                return gojinn
        return Verdict("none", str(error))
    if not module.records:
        gojinn = _verify_gojinn(data, trusted_keys)
        # A well-framed module whose tail looks like a Gojinn trailer is Gojinn-signed only
        # if that signature verifies; otherwise it is just an unsigned module.
        if gojinn is not None and gojinn.is_trusted:
            return gojinn
        return Verdict("none", UNSIGNED)
    trusted = {key.key_id: key for key in trusted_keys}
    verified: list[str] = []
    failed: list[str] = []
    untrusted: list[str] = []
    for record in module.records:
        key = trusted.get(record.key_id)
        if key is None:
            untrusted.append(record.key_id)
        elif key.verifies(record.signature, record.message(module.sha256)):
            verified.append(record.key_id)
        else:
            failed.append(record.key_id)
    key_ids = module.key_ids
    if failed:
        return Verdict(
            "pyjinn",
            f"tampered: signed by trusted {_key_ids(failed)}, but the signature does not verify "
            "(the module or its signature changed after signing)",
            key_ids=key_ids,
        )
    if verified:
        return Verdict("pyjinn", None, trusted_by=tuple(verified), key_ids=key_ids)
    return Verdict("pyjinn", f"signed by untrusted {_key_ids(untrusted)}", key_ids=key_ids)


def _verify_gojinn(data: bytes, trusted_keys: tuple[PublicKey, ...]) -> Verdict | None:
    signed = split_trailer(data)
    if signed is None:
        return None
    signer = signed.signer(trusted_keys)
    if signer is None:
        return Verdict("gojinn", GOJINN_UNVERIFIED, trailer_size=TRAILER_SIZE)
    return Verdict(
        "gojinn",
        None,
        trusted_by=(signer.key_id,),
        key_ids=(signer.key_id,),
        trailer_size=TRAILER_SIZE,
    )


def _key_ids(key_ids: list[str]) -> str:
    unique = list(dict.fromkeys(key_ids))
    return f"key id{'s' if len(unique) > 1 else ''} {', '.join(unique)}"
