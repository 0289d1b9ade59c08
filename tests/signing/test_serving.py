"""Signed modules end to end: keygen → sign → served under strict; refusals at start-up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyjinn.config import loads
from pyjinn.runtime import Runtime
from pyjinn.signing import SigningKey, generate_key_files, read_signing_key, sign_file
from pyjinn.signing import policy as policy_module
from pyjinn.signing.verify import Verdict

pytestmark = pytest.mark.anyio

HELLO_BODY = "hello"


@pytest.fixture
def hello_file(tmp_path: Path, hello_wasm: bytes) -> Path:
    path = tmp_path / "hello.wasm"
    path.write_bytes(hello_wasm)
    return path


async def test_a_module_signed_with_a_new_key_is_served_under_strict(
    make_client: Callable[[str], httpx.AsyncClient], hello_file: Path, tmp_path: Path
) -> None:
    files = generate_key_files(tmp_path / "release")
    sign_file(hello_file, read_signing_key(files.private_file))
    client = make_client(
        """
        :8080 {
            pyjinn /hello hello.wasm {
                security {
                    policy strict
                    trusted_key_file release.pub
                }
            }
        }
        """
    )
    response = await client.get("/hello")
    assert response.status_code == 200
    assert response.text == HELLO_BODY


async def test_a_gojinn_signed_module_is_served_under_strict(
    make_client: Callable[[str], httpx.AsyncClient], hello_wasm: bytes, tmp_path: Path
) -> None:
    private = Ed25519PrivateKey.generate()
    public_hex = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    (tmp_path / "legacy.wasm").write_bytes(hello_wasm + private.sign(hello_wasm) + b"GJSIG")
    client = make_client(
        f"""
        :8080 {{
            gojinn /legacy legacy.wasm {{
                security {{
                    policy strict
                    trusted_key {public_hex}
                }}
            }}
        }}
        """
    )
    response = await client.get("/legacy")
    assert response.status_code == 200
    assert response.text == HELLO_BODY


async def test_audit_serves_an_unsigned_module_with_a_warning(
    make_client: Callable[[str], httpx.AsyncClient],
    hello_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(
        """
        :8080 {
            pyjinn /hello hello.wasm {
                security {
                    policy audit
                }
            }
        }
        """
    )
    with caplog.at_level(logging.WARNING, logger="pyjinn.signing"):
        response = await client.get("/hello")
    assert response.status_code == 200
    warnings = [record for record in caplog.records if record.name == "pyjinn.signing"]
    assert len(warnings) == 1
    assert warnings[0].__dict__["file"] == str(hello_file)
    assert warnings[0].__dict__["reason"].startswith("unsigned:")


def test_strict_refuses_unsigned_and_untrusted_modules_at_start_up_naming_file_line_and_key(
    make_runtime: Callable[[str], Runtime],
    hello_file: Path,
    tmp_path: Path,
    new_key: Callable[[], SigningKey],
) -> None:
    trusted, stranger = new_key(), new_key()
    stranger_signed = tmp_path / "stranger.wasm"
    stranger_signed.write_bytes(hello_file.read_bytes())
    sign_file(stranger_signed, stranger)
    runtime = make_runtime(
        f"""
        :8080 {{
            pyjinn /hello hello.wasm {{
                security {{
                    policy strict
                    trusted_key {trusted.public_key.hex}
                }}
            }}
            pyjinn /stranger stranger.wasm {{
                security {{
                    policy strict
                    trusted_key {trusted.public_key.hex}
                }}
            }}
        }}
        """
    )
    problems = runtime.load_all()
    assert sorted(problems) == [
        f"Caddyfile:13: function 'stranger': {stranger_signed}: refused by security policy "
        f"strict: signed by untrusted key id {stranger.key_id}",
        f"Caddyfile:7: function 'hello': {hello_file}: refused by security policy strict: "
        "unsigned: no pyjinn.signature section and no Gojinn signature trailer",
    ]


def test_the_global_policy_applies_unless_a_function_has_its_own(
    hello_file: Path, tmp_path: Path, new_key: Callable[[], SigningKey]
) -> None:
    key = new_key()
    config = loads(
        f"""
        {{
            admin off
            security {{
                policy strict
                trusted_key {key.public_key.hex}
            }}
        }}
        :8080 {{
            pyjinn /strict hello.wasm
            pyjinn /open hello.wasm {{
                name open
                security {{
                    policy off
                }}
            }}
        }}
        """,
        base_dir=tmp_path,
        environ={},
    )
    runtime = Runtime(config)
    try:
        problems = runtime.load_all()
    finally:
        runtime.close()
    assert len(problems) == 1
    assert "function 'hello'" in problems[0]
    assert "refused by security policy strict: unsigned" in problems[0]


async def test_requests_never_verify_again(
    make_client: Callable[[str], httpx.AsyncClient],
    hello_file: Path,
    new_key: Callable[[], SigningKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = new_key()
    sign_file(hello_file, key)
    calls: list[int] = []
    verify = policy_module.verify_module

    def counting(data: bytes, trusted_keys: tuple[object, ...]) -> Verdict:
        calls.append(1)
        return verify(data, trusted_keys)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "verify_module", counting)
    client = make_client(
        f"""
        :8080 {{
            pyjinn /a hello.wasm {{
                security {{
                    policy strict
                    trusted_key {key.public_key.hex}
                }}
            }}
            pyjinn /b hello.wasm {{
                name b
                security {{
                    policy strict
                    trusted_key {key.public_key.hex}
                }}
            }}
        }}
        """
    )
    for path in ("/a", "/b", "/a", "/b", "/a"):
        assert (await client.get(path)).status_code == 200
    assert calls == [1]
