"""Signing files on disk: atomic, keeping the file mode, and removing Gojinn trailers."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pyjinn.errors import SigningError
from pyjinn.signing import SigningKey, sign_file, verify_file


def test_signing_in_place_keeps_the_file_mode_and_leaves_no_temporary_file(
    hello_wasm: bytes, new_key: Callable[[], SigningKey], tmp_path: Path
) -> None:
    module = tmp_path / "fn.wasm"
    module.write_bytes(hello_wasm)
    os.chmod(module, 0o640)
    key = new_key()
    signed = sign_file(module, key)
    assert signed.output == module
    assert not signed.replaced_own_signature
    assert stat.S_IMODE(module.stat().st_mode) == 0o640
    assert [path.name for path in tmp_path.iterdir()] == ["fn.wasm"]
    assert verify_file(module, (key.public_key,)).is_trusted
    assert sign_file(module, key).replaced_own_signature


def test_signing_a_gojinn_signed_file_removes_its_trailer(
    hello_wasm: bytes, new_key: Callable[[], SigningKey], tmp_path: Path
) -> None:
    module = tmp_path / "legacy.wasm"
    module.write_bytes(hello_wasm + Ed25519PrivateKey.generate().sign(hello_wasm) + b"GJSIG")
    key = new_key()
    signed = sign_file(module, key, tmp_path / "signed.wasm")
    assert signed.removed_gojinn_trailer
    data = (tmp_path / "signed.wasm").read_bytes()
    assert data.startswith(hello_wasm)
    assert b"GJSIG" not in data
    assert verify_file(tmp_path / "signed.wasm", (key.public_key,)).format == "pyjinn"
    wasmtime.Module(wasmtime.Engine(), data)


def test_a_file_that_cannot_be_signed_is_left_untouched(
    new_key: Callable[[], SigningKey], tmp_path: Path
) -> None:
    module = tmp_path / "junk.wasm"
    module.write_bytes(b"\0asm\x01\x00\x00\x00\x01\x09")
    with pytest.raises(SigningError, match=r"cannot sign .*junk.wasm: malformed WebAssembly"):
        sign_file(module, new_key())
    assert module.read_bytes() == b"\0asm\x01\x00\x00\x00\x01\x09"
