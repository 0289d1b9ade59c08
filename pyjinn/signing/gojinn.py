"""Gojinn's signature format: a trailer appended to the module.

Gojinn's ``SignWasm`` writes ``module ‖ Ed25519 signature (64 bytes) ‖ "GJSIG"``, the signature
being over the module bytes before the trailer. The trailer makes the file an invalid module, so
it must be removed before compiling. There is no key id, time or version.

A file is taken for Gojinn-signed when it ends in ``GJSIG`` and what precedes the 69-byte
trailer is a well-framed module, while the whole file is not. A module that is well framed with
its last 69 bytes too (``also_valid``: possible, if unlikely) counts as Gojinn-signed only when
the trailer holds a trusted key's valid signature, so unsigned and pyjinn-signed modules are
never mistaken for Gojinn ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyjinn.signing.keys import SIGNATURE_SIZE, PublicKey
from pyjinn.signing.sections import PREAMBLE, is_well_framed

TRAILER_MAGIC = b"GJSIG"
TRAILER_SIZE = SIGNATURE_SIZE + len(TRAILER_MAGIC)


@dataclass(frozen=True)
class GojinnSigned:
    """A file split into the module Gojinn signed and the signature from its trailer.

    ``also_valid`` is set when the whole file, trailer included, is itself well framed: then it
    may just as well be an ordinary module whose last bytes look like a trailer, and only a
    signature that verifies decides.
    """

    module: bytes
    signature: bytes
    also_valid: bool = False

    def signer(self, trusted_keys: tuple[PublicKey, ...]) -> PublicKey | None:
        """The first trusted key whose signature the trailer holds, or None."""
        for key in trusted_keys:
            if key.verifies(self.signature, self.module):
                return key
        return None


def split_trailer(data: bytes) -> GojinnSigned | None:
    """``data`` as a Gojinn-signed module, or None when it does not end in a Gojinn trailer."""
    if len(data) < len(PREAMBLE) + TRAILER_SIZE or not data.endswith(TRAILER_MAGIC):
        return None
    module = data[:-TRAILER_SIZE]
    if not is_well_framed(module):
        return None
    signature = data[-TRAILER_SIZE : -len(TRAILER_MAGIC)]
    return GojinnSigned(module, signature, also_valid=is_well_framed(data))


def without_trailer(data: bytes) -> bytes:
    """``data`` with a Gojinn trailer removed if it has one that makes it an invalid module."""
    signed = split_trailer(data)
    return signed.module if signed is not None and not signed.also_valid else data
