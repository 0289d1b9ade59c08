"""pyjinn's signature format: custom sections that keep a module valid and bind every byte."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import wasmtime

from pyjinn.errors import SigningError
from pyjinn.signing import SECTION_NAME, SigningKey, read_signed_module, sign_module, verify_module
from pyjinn.signing.sections import custom_section, read_sections
from pyjinn.signing.signature import SignatureRecord, signing_message


def signature_sections(data: bytes) -> list[bytes]:
    return [
        data[section.body : section.end]
        for section in read_sections(data)
        if section.is_custom and section.name == SECTION_NAME
    ]


def test_a_signed_module_verifies_and_is_still_a_module_plain_wasmtime_compiles(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    signed = sign_module(hello_wasm, key)
    verdict = verify_module(signed, (key.public_key,))
    assert verdict.is_trusted
    assert verdict.trusted_by == (key.key_id,)
    assert verdict.module_bytes(signed) == signed
    module = wasmtime.Module(wasmtime.Engine(), signed)
    assert [export.name for export in module.exports] == ["memory", "_start"]
    assert read_signed_module(signed).content == hello_wasm


def test_the_section_records_version_algorithm_key_id_time_and_signature(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    when = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
    signed = sign_module(hello_wasm, key, now=when)
    assert signed.startswith(hello_wasm)  # appended as the last section
    (content,) = signature_sections(signed)
    document = json.loads(content)
    assert document == {
        "algorithm": "ed25519",
        "key_id": key.key_id,
        "signature": document["signature"],
        "signed_at": "2025-06-01T12:00:00Z",
        "version": 1,
    }
    assert key.key_id == hashlib.sha256(key.public_key.raw).hexdigest()[:16]
    # The signature is over the documented message, which binds the digest of the unsigned
    # module to every recorded field.
    message = (
        "pyjinn module signature\nversion 1\nalgorithm ed25519\n"
        f"key_id {key.key_id}\nsigned_at 2025-06-01T12:00:00Z\n"
        f"module_sha256 {hashlib.sha256(hello_wasm).hexdigest()}\n"
    ).encode()
    digest = hashlib.sha256(hello_wasm).digest()
    assert signing_message(digest, key.key_id, "2025-06-01T12:00:00Z") == message
    assert key.public_key.verifies(bytes.fromhex(document["signature"]), message)


def test_every_changed_byte_anywhere_in_a_signed_module_makes_it_untrusted(
    new_key: Callable[[], SigningKey],
) -> None:
    key = new_key()
    small = bytes(
        wasmtime.wat2wasm('(module (func (export "_start")) (func (result i32) i32.const 7))')
    )
    signed = sign_module(small, key)
    assert verify_module(signed, (key.public_key,)).is_trusted
    accepted = []
    for position in range(len(signed)):
        for value in range(256):
            if value == signed[position]:
                continue
            changed = bytearray(signed)
            changed[position] = value
            if verify_module(bytes(changed), (key.public_key,)).is_trusted:
                accepted.append((position, value))
    assert accepted == []


def test_a_signature_by_a_key_that_is_not_trusted_is_reported_with_its_key_id(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    signer, trusted = new_key(), new_key()
    verdict = verify_module(sign_module(hello_wasm, signer), (trusted.public_key,))
    assert not verdict.is_trusted
    assert verdict.problem == f"signed by untrusted key id {signer.key_id}"
    assert verdict.key_ids == (signer.key_id,)


def test_signatures_by_several_keys_coexist_and_each_verifies_alone(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    first, second = new_key(), new_key()
    signed = sign_module(sign_module(hello_wasm, first), second)
    assert read_signed_module(signed).key_ids == (first.key_id, second.key_id)
    assert verify_module(signed, (first.public_key,)).trusted_by == (first.key_id,)
    assert verify_module(signed, (second.public_key,)).trusted_by == (second.key_id,)
    both = verify_module(signed, (first.public_key, second.public_key))
    assert both.trusted_by == (first.key_id, second.key_id)
    wasmtime.Module(wasmtime.Engine(), signed)


def test_signing_again_with_the_same_key_replaces_its_signature_only(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    first, second = new_key(), new_key()
    early = datetime(2025, 1, 1, tzinfo=UTC)
    late = datetime(2025, 2, 1, tzinfo=UTC)
    signed = sign_module(sign_module(hello_wasm, first, now=early), second, now=early)
    resigned = sign_module(signed, first, now=late)
    records = read_signed_module(resigned).records
    assert [record.key_id for record in records] == [second.key_id, first.key_id]
    assert [record.signed_at for record in records] == [
        "2025-01-01T00:00:00Z",
        "2025-02-01T00:00:00Z",
    ]
    assert len(signature_sections(resigned)) == 2
    assert verify_module(resigned, (first.public_key, second.public_key)).is_trusted


def test_a_module_that_changed_after_signing_is_tampered(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    signed = sign_module(hello_wasm, key)
    # Appending a section is a change too, even a custom section nobody executes.
    grown = signed + custom_section("extra", b"x")
    verdict = verify_module(grown, (key.public_key,))
    assert verdict.problem is not None
    assert verdict.problem.startswith(f"tampered: signed by trusted key id {key.key_id}, but")


def test_one_failing_trusted_signature_makes_the_module_untrusted(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    stale, fresh = new_key(), new_key()
    old = sign_module(hello_wasm, stale)
    changed_module = bytes(wasmtime.wat2wasm('(module (func (export "_start")))'))
    # The stale signature is moved onto other code, and a fresh key signs that.
    (stale_content,) = signature_sections(old)
    mixed = sign_module(changed_module + custom_section(SECTION_NAME, stale_content), fresh)
    verdict = verify_module(mixed, (stale.public_key, fresh.public_key))
    assert not verdict.is_trusted
    assert verdict.problem is not None and stale.key_id in verdict.problem
    assert verify_module(mixed, (fresh.public_key,)).is_trusted  # an untrusted one is not checked


def test_an_unsigned_module_is_reported_unsigned(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    verdict = verify_module(hello_wasm, (new_key().public_key,))
    assert verdict.format == "none"
    assert verdict.problem == (
        "unsigned: no pyjinn.signature section and no Gojinn signature trailer"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not json", "its content is not JSON"),
        (b"[]", "expected a JSON object with the fields"),
        (
            b'{"algorithm":"ed25519","key_id":"0123456789abcdef","signature":"00",'
            b'"signed_at":"2025-06-01T12:00:00Z","version":2}',
            "unsupported format version 2",
        ),
        (
            b'{"algorithm":"rsa","key_id":"0123456789abcdef","signature":"00",'
            b'"signed_at":"2025-06-01T12:00:00Z","version":1}',
            "unsupported algorithm 'rsa'",
        ),
    ],
)
def test_a_malformed_signature_section_is_refused_with_the_reason(
    hello_wasm: bytes, new_key: Callable[[], SigningKey], content: bytes, reason: str
) -> None:
    data = hello_wasm + custom_section(SECTION_NAME, content)
    verdict = verify_module(data, (new_key().public_key,))
    assert verdict.problem is not None
    assert verdict.problem.startswith(f"malformed signature section at offset {len(hello_wasm)}:")
    assert reason in verdict.problem
    with pytest.raises(SigningError, match="malformed signature section"):
        sign_module(data, new_key())


def test_a_signature_section_must_be_canonical_json(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    (content,) = signature_sections(sign_module(hello_wasm, key))
    record = SignatureRecord.from_content(content)
    spaced = json.dumps(json.loads(content), sort_keys=True).encode()
    upper = content.replace(
        record.signature.hex().encode(), record.signature.hex().upper().encode()
    )
    for variant in (spaced, upper):
        verdict = verify_module(
            hello_wasm + custom_section(SECTION_NAME, variant), (key.public_key,)
        )
        assert verdict.problem is not None and "malformed signature section" in verdict.problem


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\0asm\x01\x00\x00\x00\x01\x05\x00", "past the end of the file"),
        (b"\0asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\xff", "not a valid 32-bit LEB128 number"),
        (b"\0asm\x01\x00\x00\x00\x00\x02\x05a", "overruns the section"),
        (b"\0asm\x01\x00\x00\x00\x00\x02\x01\xff", "not valid UTF-8"),
        (b"\0asm\x0d\x00\x01\x00", "not a WebAssembly core module"),
    ],
)
def test_a_badly_framed_binary_cannot_be_signed_and_never_verifies(
    data: bytes, reason: str, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    with pytest.raises(SigningError, match=reason) as raised:
        sign_module(data, key)
    assert str(raised.value).startswith("malformed WebAssembly binary: ")
    verdict = verify_module(data, (key.public_key,))
    assert verdict.problem is not None and reason in verdict.problem


def test_text_that_is_not_a_binary_is_unsigned(new_key: Callable[[], SigningKey]) -> None:
    verdict = verify_module(b"(module)", (new_key().public_key,))
    assert verdict.problem is not None
    assert verdict.problem.startswith("unsigned: not a WebAssembly binary")
    assert ".wat" in verdict.problem
