"""Projects: the configured functions that sources beside the Caddyfile build, and signing what
was built with the configured key, so a ``policy strict`` server accepts it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pyjinn.config import load
from pyjinn.scaffold import create_project
from pyjinn.signing import generate_key_files, verify_module
from pyjinn.toolchain.project import build_project, function_sources, sign_modules
from tests.server.test_live import free_port

STRICT = """{{
\tsigning_key {key}
\tsecurity {{
\t\tpolicy strict
\t\ttrusted_key_file release.pub
\t}}
}}
"""


def test_configured_functions_map_to_the_sources_that_build_them(tmp_path: Path) -> None:
    create_project(tmp_path, "hello", "wat")
    create_project(tmp_path, "other", "wat")
    (tmp_path / "plain.wat").write_text('(module (func (export "_start")))')
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(caddyfile.read_text() + ":9000 {\n\tpyjinn plain.wat\n}\n")
    assert all(r.ok for r in build_project(tmp_path, echo=lambda line: None))

    sources = function_sources(load(caddyfile))

    assert sources == {
        "hello": tmp_path / "functions" / "hello",
        "other": tmp_path / "functions" / "other",
    }


def test_built_modules_are_signed_once_with_the_configured_key(tmp_path: Path) -> None:
    create_project(tmp_path, "hello", "wat")
    keys = generate_key_files(tmp_path / "release")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        STRICT.format(key="release.key") + caddyfile.read_text().split("}\n", 1)[1]
    )
    [built] = build_project(tmp_path, echo=lambda line: None)
    config = load(caddyfile)
    lines: list[str] = []

    assert sign_modules(config, [built.output], lines.append) == [built.output]
    assert verify_module(built.output.read_bytes(), (keys.public_key,)).is_trusted
    assert lines == [f"Signed {built.output} with key id {keys.public_key.key_id}."]
    assert sign_modules(config, [built.output], lines.append) == []  # already signed


@pytest.mark.slow
def test_up_builds_signs_and_serves_a_strict_project_on_the_address_given(
    tmp_path: Path,
) -> None:
    create_project(tmp_path, "hello", "c")
    generate_key_files(tmp_path / "release")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(
        STRICT.format(key="release.key") + caddyfile.read_text().split("}\n", 1)[1]
    )
    port, admin = free_port(), free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "pyjinn", "up", "--listen", f"127.0.0.1:{port}", "--admin",
             f"127.0.0.1:{admin}", "--workers", "1"],
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.text == "Hello from hello"
        assert "Signed " in log.read_text()
        server.send_signal(signal.SIGHUP)  # a reload keeps the address given on the command line
        time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=5).status_code == 200
        assert "Reload refused" not in log.read_text()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
