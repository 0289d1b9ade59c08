"""Keys: public key forms, key ids, key files that are private and never overwritten."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.errors import SigningError
from pyjinn.signing import (
    SigningKey,
    generate_key_files,
    load_public_key,
    parse_public_key,
    read_public_key_file,
    read_signing_key,
)


def test_a_public_key_parses_from_hex_and_base64_to_the_same_key(
    new_key: Callable[[], SigningKey],
) -> None:
    key = new_key().public_key
    forms = [
        key.raw.hex(),
        key.raw.hex().upper(),
        base64.b64encode(key.raw).decode(),
        base64.urlsafe_b64encode(key.raw).decode().rstrip("="),
        f"  {key.raw.hex()}\n",
    ]
    assert {parse_public_key(text) for text in forms} == {key}


def test_the_key_id_is_16_hex_digits_of_the_sha256_of_the_raw_key(
    new_key: Callable[[], SigningKey],
) -> None:
    key = new_key()
    assert key.key_id == hashlib.sha256(key.public_key.raw).hexdigest()[:16]
    assert key.public_key.key_id == key.key_id


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("abcd", "got 4 characters"),
        ("zz" * 32, "got 64 characters"),
        (base64.b64encode(b"x" * 31).decode(), "got 44 characters"),
        ("00" * 64, "Gojinn private key"),
    ],
)
def test_a_bad_public_key_says_what_was_expected_without_echoing_it(text: str, detail: str) -> None:
    with pytest.raises(SigningError) as raised:
        parse_public_key(text)
    message = str(raised.value)
    assert "64 hex digits or base64 of 32 bytes" in message
    assert detail in message
    assert text not in message


def test_key_files_are_created_private_and_hold_the_seed_and_the_public_key(
    tmp_path: Path,
) -> None:
    files = generate_key_files(tmp_path / "release")
    assert files.private_file == tmp_path / "release.key"
    assert files.public_file == tmp_path / "release.pub"
    assert stat.S_IMODE(files.private_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.public_file.stat().st_mode) == 0o644
    seed = files.private_file.read_text()
    assert len(seed.strip()) == 64
    key = read_signing_key(files.private_file)
    assert key.public_key == files.public_key
    assert read_public_key_file(files.public_file) == files.public_key
    assert load_public_key(str(files.public_file)) == files.public_key


def test_the_private_key_is_private_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        files = generate_key_files(tmp_path / "open")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(files.private_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("existing", ["release.key", "release.pub"])
def test_key_generation_never_overwrites_and_writes_nothing_when_a_file_exists(
    tmp_path: Path, existing: str
) -> None:
    (tmp_path / existing).write_text("precious")
    with pytest.raises(SigningError, match="already exists"):
        generate_key_files(tmp_path / "release")
    assert (tmp_path / existing).read_text() == "precious"
    assert sorted(path.name for path in tmp_path.iterdir()) == [existing]


def test_key_generation_refuses_a_dangling_symlink_where_the_key_would_go(tmp_path: Path) -> None:
    # O_EXCL: the private key is never written through a link someone planted.
    (tmp_path / "release.key").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SigningError, match="already exists"):
        generate_key_files(tmp_path / "release")
    assert not (tmp_path / "elsewhere").exists()


def test_a_gojinn_private_key_file_signs_with_the_same_key(tmp_path: Path) -> None:
    key = SigningKey.generate()
    go_private = bytes.fromhex(key.seed_hex()) + key.public_key.raw  # Go's 64-byte layout
    (tmp_path / "paulo.priv").write_text(go_private.hex())
    assert read_signing_key(tmp_path / "paulo.priv").key_id == key.key_id
    damaged = go_private[:32] + bytes(32)
    (tmp_path / "damaged.priv").write_text(damaged.hex())
    with pytest.raises(SigningError, match="does not match its seed"):
        read_signing_key(tmp_path / "damaged.priv")


def test_private_key_material_never_appears_in_reprs_or_errors(tmp_path: Path) -> None:
    files = generate_key_files(tmp_path / "secret")
    seed = files.private_file.read_text().strip()
    key = read_signing_key(files.private_file)
    assert seed not in repr(key)
    assert repr(key) == f"SigningKey(key_id={key.key_id!r})"
    with pytest.raises(SigningError) as raised:
        read_public_key_file(files.private_file)
    assert "private key file" in str(raised.value)
    assert seed not in str(raised.value)
    # Trusting a private key text by mistake fails without echoing it.
    (tmp_path / "oops.pub").write_text(seed + seed)
    with pytest.raises(SigningError) as raised:
        load_public_key(str(tmp_path / "oops.pub"))
    assert seed not in str(raised.value)


def test_a_file_that_is_not_a_private_key_is_refused_with_the_expected_form(
    tmp_path: Path,
) -> None:
    (tmp_path / "junk.key").write_text("hello")
    with pytest.raises(SigningError, match="expected the 32-byte Ed25519 seed as 64 hex"):
        read_signing_key(tmp_path / "junk.key")
    with pytest.raises(SigningError, match="key file not found"):
        read_signing_key(tmp_path / "missing.key")
