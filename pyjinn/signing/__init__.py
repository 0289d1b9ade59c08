"""Module signing: Ed25519 signatures that keep modules valid WebAssembly, and the trust policy.

One module per concept::

    keys       public and private keys, key files, key ids
    sections   the section framing of a WebAssembly binary
    signature  pyjinn's format: a ``pyjinn.signature`` custom section per signature
    gojinn     Gojinn's format: a 69-byte trailer after the module
    verify     the verdict on a module file, in either format
    policy     ``TrustPolicy``: strict, audit or off, checked once per module content
    files      signing and verifying files on disk (the CLI's commands)

The format and what signing does and does not guarantee are described in docs/signing.md.
"""

from __future__ import annotations

from pyjinn.signing.files import SignedFile, sign_file, verify_file
from pyjinn.signing.keys import (
    KeyFiles,
    PublicKey,
    SigningKey,
    generate_key_files,
    load_public_key,
    parse_public_key,
    read_public_key_file,
    read_signing_key,
)
from pyjinn.signing.policy import POLICY_MODES, PolicyMode, TrustPolicy
from pyjinn.signing.signature import SECTION_NAME, SignatureRecord, read_signed_module, sign_module
from pyjinn.signing.verify import Verdict, verify_module

__all__ = [
    "POLICY_MODES",
    "SECTION_NAME",
    "KeyFiles",
    "PolicyMode",
    "PublicKey",
    "SignatureRecord",
    "SignedFile",
    "SigningKey",
    "TrustPolicy",
    "Verdict",
    "generate_key_files",
    "load_public_key",
    "parse_public_key",
    "read_public_key_file",
    "read_signed_module",
    "read_signing_key",
    "sign_file",
    "sign_module",
    "verify_file",
    "verify_module",
]
