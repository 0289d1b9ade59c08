"""Gojinn-signed modules (module ‖ signature ‖ "GJSIG") verify, and their trailer is removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyjinn.errors import ModuleError
from pyjinn.signing import SigningKey, TrustPolicy, parse_public_key, sign_module, verify_module
from pyjinn.signing.gojinn import split_trailer, without_trailer
from pyjinn.signing.sections import custom_section
from pyjinn.signing.verify import GOJINN_UNVERIFIED, UNSIGNED


def gojinn_sign(module: bytes, private: Ed25519PrivateKey) -> bytes:
    """What Gojinn's SignWasm writes: the module, its Ed25519 signature, then "GJSIG"."""
    return module + private.sign(module) + b"GJSIG"


def gojinn_public_hex(private: Ed25519PrivateKey) -> str:
    """A Gojinn .pub file's content: the 32-byte public key as hex."""
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_a_gojinn_signed_module_verifies_and_its_trailer_is_removed(hello_wasm: bytes) -> None:
    private = Ed25519PrivateKey.generate()
    signed = gojinn_sign(hello_wasm, private)
    key = parse_public_key(gojinn_public_hex(private))
    verdict = verify_module(signed, (key,))
    assert verdict.is_trusted
    assert verdict.format == "gojinn"
    assert verdict.trusted_by == (key.key_id,)
    assert verdict.module_bytes(signed) == hello_wasm
    policy = TrustPolicy("strict", (key,))
    assert policy.check(Path("fn.wasm"), signed) == hello_wasm


def test_the_trailer_makes_the_file_an_invalid_module_so_it_must_go(hello_wasm: bytes) -> None:
    signed = gojinn_sign(hello_wasm, Ed25519PrivateKey.generate())
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module(wasmtime.Engine(), signed)
    # Even with no policy at all, the trailer is removed.
    assert TrustPolicy().check(Path("fn.wasm"), signed) == hello_wasm
    wasmtime.Module(wasmtime.Engine(), without_trailer(signed))


def test_a_gojinn_signature_by_another_key_or_over_changed_bytes_is_refused(
    hello_wasm: bytes,
) -> None:
    # Fixed keys: with random ones, about one signature in 200 (measured) happens to make the
    # whole file parse as a module too, and the verdict is then "unsigned", not "unverified".
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    other = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    key = parse_public_key(gojinn_public_hex(private))
    by_other = gojinn_sign(hello_wasm, other)
    changed = bytearray(gojinn_sign(hello_wasm, private))
    changed[20] ^= 0x01
    for data in (by_other, bytes(changed)):
        verdict = verify_module(data, (key,))
        assert verdict.problem == GOJINN_UNVERIFIED
        with pytest.raises(ModuleError, match="Gojinn signature does not verify"):
            TrustPolicy("strict", (key,)).check(Path("fn.wasm"), data)


def test_unsigned_and_pyjinn_signed_modules_are_never_taken_for_gojinn_ones(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    # A custom section whose content ends in GJSIG, long enough to hold a whole "trailer".
    looks_signed = hello_wasm + custom_section("note", b"A" * 80 + b"GJSIG")
    for data in (hello_wasm, sign_module(hello_wasm, key), sign_module(looks_signed, key)):
        trailer = split_trailer(data)
        assert trailer is None or trailer.also_valid
        assert without_trailer(data) == data
        assert verify_module(data, (key.public_key,)).format != "gojinn"
    assert verify_module(looks_signed, (key.public_key,)).problem == UNSIGNED


def test_a_valid_module_whose_tail_parses_as_a_trailer_counts_only_if_the_signature_verifies(
    hello_wasm: bytes,
) -> None:
    # The last 69 bytes form a whole custom section named "g" ending in GJSIG: the file is a
    # valid module, and so is what precedes the "trailer". Not a Gojinn signature: unsigned.
    tail = custom_section("g", b"x" * 60 + b"GJSIG")
    assert len(tail) == 69
    key = parse_public_key(gojinn_public_hex(Ed25519PrivateKey.generate()))
    assert verify_module(hello_wasm + tail, (key,)).problem == UNSIGNED
    assert without_trailer(hello_wasm + tail) == hello_wasm + tail

    # A real Gojinn signature whose bytes happen to frame as a section is still recognised.
    private = Ed25519PrivateKey.generate()
    salt = 0
    while True:
        module = hello_wasm + custom_section("salt", salt.to_bytes(4, "big"))
        signed = gojinn_sign(module, private)
        trailer = split_trailer(signed)
        if trailer is not None and trailer.also_valid:
            break
        salt += 1
    key = parse_public_key(gojinn_public_hex(private))
    verdict = verify_module(signed, (key,))
    assert verdict.format == "gojinn"
    assert verdict.module_bytes(signed) == module
