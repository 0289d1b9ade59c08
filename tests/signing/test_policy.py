"""The trust policy: strict refuses, audit warns, off checks nothing; once per module content."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import ModuleLoader
from pyjinn.errors import ModuleError
from pyjinn.signing import SigningKey, TrustPolicy, sign_module
from pyjinn.signing import policy as policy_module
from pyjinn.signing.sections import custom_section
from pyjinn.signing.verify import Verdict

PATH = Path("/srv/functions/fn.wasm")


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every module the policy actually verified (cache misses), in order."""
    seen: list[bytes] = []
    verify = policy_module.verify_module

    def counting(data: bytes, trusted_keys: tuple[object, ...]) -> Verdict:
        seen.append(data)
        return verify(data, trusted_keys)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "verify_module", counting)
    return seen


@pytest.fixture(scope="module")
def loader() -> Iterator[ModuleLoader]:
    engine = Engine(max_instances=4)
    yield ModuleLoader(engine, None)
    engine.close()


def refusal(policy: TrustPolicy, data: bytes) -> str:
    with pytest.raises(ModuleError) as raised:
        policy.check(PATH, data)
    assert raised.value.path == str(PATH)
    assert raised.value.reason.startswith("refused by security policy strict: ")
    return raised.value.reason.removeprefix("refused by security policy strict: ")


def test_strict_passes_a_module_a_trusted_key_signed(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    signed = sign_module(hello_wasm, key)
    assert TrustPolicy("strict", (key.public_key,)).check(PATH, signed) == signed


def test_strict_refuses_unsigned_untrusted_tampered_and_malformed_modules_saying_why(
    hello_wasm: bytes, new_key: Callable[[], SigningKey]
) -> None:
    trusted, stranger = new_key(), new_key()
    policy = TrustPolicy("strict", (trusted.public_key,))
    signed = sign_module(hello_wasm, trusted)
    tampered = bytearray(signed)
    tampered[len(hello_wasm) - 3] ^= 0x40  # inside the code, not the signature
    assert refusal(policy, hello_wasm).startswith("unsigned:")
    assert refusal(policy, sign_module(hello_wasm, stranger)) == (
        f"signed by untrusted key id {stranger.key_id}"
    )
    assert refusal(policy, bytes(tampered)).startswith(
        f"tampered: signed by trusted key id {trusted.key_id}, but the signature does not verify"
    )
    malformed = hello_wasm + custom_section("pyjinn.signature", b"{}")
    assert refusal(policy, malformed).startswith("malformed signature section at offset")


def test_audit_serves_an_untrusted_module_and_logs_file_key_id_and_reason(
    hello_wasm: bytes, new_key: Callable[[], SigningKey], caplog: pytest.LogCaptureFixture
) -> None:
    trusted, stranger = new_key(), new_key()
    policy = TrustPolicy("audit", (trusted.public_key,))
    data = sign_module(hello_wasm, stranger)
    with caplog.at_level(logging.WARNING, logger="pyjinn.signing"):
        assert policy.check(PATH, data) == data
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert str(PATH) in record.getMessage()
    assert "security policy audit" in record.getMessage()
    assert record.__dict__["file"] == str(PATH)
    assert record.__dict__["key_id"] == stranger.key_id
    assert record.__dict__["reason"] == f"signed by untrusted key id {stranger.key_id}"


def test_off_checks_nothing(
    hello_wasm: bytes, verifications: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="pyjinn.signing"):
        assert TrustPolicy().check(PATH, hello_wasm + b"junk") == hello_wasm + b"junk"
    assert verifications == []
    assert caplog.records == []


def test_strict_without_a_trusted_key_is_refused_when_built() -> None:
    with pytest.raises(ValueError, match="at least one trusted key"):
        TrustPolicy("strict")
    with pytest.raises(ValueError, match="expected strict, audit or off"):
        TrustPolicy("paranoid")  # type: ignore[arg-type]


def test_verification_happens_once_per_module_content_and_policy(
    hello_wasm: bytes, new_key: Callable[[], SigningKey], verifications: list[bytes]
) -> None:
    key = new_key()
    signed = sign_module(hello_wasm, key)
    strict = TrustPolicy("strict", (key.public_key,))
    for path in (PATH, Path("/elsewhere/copy.wasm"), PATH):
        strict.check(path, signed)
    assert verifications == [signed]
    # An equal policy built again shares the verdict; a different policy is verified anew.
    TrustPolicy("strict", (key.public_key,)).check(PATH, signed)
    assert len(verifications) == 1
    TrustPolicy("audit", (key.public_key,)).check(PATH, signed)
    assert len(verifications) == 2
    # A refusal is remembered too.
    for _ in range(3):
        with pytest.raises(ModuleError):
            strict.check(PATH, hello_wasm)
    assert verifications == [signed, signed, hello_wasm]


def test_the_loader_applies_the_policy_before_compiling(
    hello_wasm: bytes,
    new_key: Callable[[], SigningKey],
    loader: ModuleLoader,
    tmp_path: Path,
    verifications: list[bytes],
) -> None:
    key = new_key()
    strict = TrustPolicy("strict", (key.public_key,))
    signed_path = tmp_path / "signed.wasm"
    signed_path.write_bytes(sign_module(hello_wasm, key))
    module = loader.load(signed_path, strict)
    assert loader.load(signed_path, strict) is module
    assert len(verifications) == 1
    unsigned_path = tmp_path / "unsigned.wasm"
    unsigned_path.write_bytes(hello_wasm)
    assert loader.load(unsigned_path).digest == loader.load(unsigned_path, None).digest
    with pytest.raises(ModuleError, match="refused by security policy strict: unsigned"):
        loader.load(unsigned_path, strict)


def test_a_wat_file_cannot_be_signed_so_strict_refuses_it(
    loader: ModuleLoader, new_key: Callable[[], SigningKey], tmp_path: Path
) -> None:
    wat = tmp_path / "fn.wat"
    wat.write_text('(module (func (export "_start")))')
    strict = TrustPolicy("strict", (new_key().public_key,))
    with pytest.raises(ModuleError) as raised:
        loader.load(wat, strict)
    assert "unsigned: not a WebAssembly binary" in raised.value.reason
    assert ".wat text module cannot be signed" in raised.value.reason
    loader.load(wat, TrustPolicy("audit"))  # audit serves it
