"""Deploys and rollbacks through the admin API of a real ``pyjinn up``: checked before anything
switches, every worker switches, and no request fails while they do."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wasmtime

from pyjinn.signing import generate_key_files, read_signing_key, sign_module
from tests.helpers import wat_writing
from tests.server.test_live import Server, start, wait_until

pytestmark = pytest.mark.slow

SITE = """
:PORT {
    handle /fn {
        pyjinn fn.wasm SECURITY
    }
}
"""


def module(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat_writing(f'{{"body":"{text}"}}')))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def token(tmp_path: Path) -> str:
    return (tmp_path / "data" / "admin.token").read_text().strip()


def deploy(server: Server, data: bytes, secret: str | None, name: str = "fn") -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return httpx.post(
        f"{server.admin}/functions/{name}/deploy", content=data, headers=headers, timeout=120
    )


def rollback(server: Server, secret: str, to: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{server.admin}/functions/fn/rollback",
        params={"to": to} if to else None,
        headers={"Authorization": f"Bearer {secret}"},
        timeout=120,
    )


def served_digest(server: Server) -> str:
    return str(server.status()["functions"][0]["sha256"])


def test_twenty_deploys_under_load_drop_no_request_and_switch_every_worker(
    tmp_path: Path, servers: list[Server]
) -> None:
    one, two = module("one"), module("two")
    (tmp_path / "fn.wasm").write_bytes(one)
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=2)
    servers.append(server)
    secret = token(tmp_path)
    answers: dict[str, int] = {}
    failures: list[str] = []
    deploys: list[dict] = []

    async def client(stop: asyncio.Event, http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await http.get(f"{server.url}/fn")
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")
                answers[response.text] = answers.get(response.text, 0) + 1
            except httpx.HTTPError as error:
                failures.append(repr(error))

    async def main() -> None:
        stop = asyncio.Event()
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            clients = [asyncio.create_task(client(stop, http)) for _ in range(50)]
            await asyncio.sleep(0.5)
            for index in range(20):
                data = two if index % 2 == 0 else one
                response = await asyncio.to_thread(deploy, server, data, secret)
                assert response.status_code == 200, response.text
                deploys.append(response.json())
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*clients)

    asyncio.run(main())

    assert failures == []
    assert set(answers) == {"one", "two"}, answers
    assert sum(answers.values()) > 200
    assert all(result["workers"] == 2 for result in deploys), deploys
    assert [result["sha256"] for result in deploys] == [digest(two), digest(one)] * 10
    assert served_digest(server) == digest(one)
    wait_until(lambda: {httpx.get(f"{server.url}/fn").text for _ in range(10)} == {"one"})
    switch = sorted(result["switch_seconds"] for result in deploys)
    total = sorted(result["seconds"] for result in deploys)
    print(f"deploy p50 {total[10]:.3f} s (switch {switch[10]:.3f} s), max {total[-1]:.3f} s")


def test_a_deploy_without_the_token_is_refused_and_changes_nothing(
    tmp_path: Path, servers: list[Server]
) -> None:
    (tmp_path / "fn.wasm").write_bytes(module("one"))
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=1)
    servers.append(server)
    before = server.status()["functions"][0]

    for secret in (None, "not-the-token-at-all"):
        response = deploy(server, module("two"), secret)
        assert response.status_code == 401
        assert "admin token" in response.json()["error"]
    assert server.status()["functions"][0] == before
    assert httpx.get(f"{server.url}/fn").text == "one"
    assert not list((tmp_path / "data" / "modules").glob(f"{digest(module('two'))}*"))
    # Made at the first start: where it is is logged, the token itself is not (no terminal).
    path = tmp_path / "data" / "admin.token"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert any(f"Created the admin token in {path}" in r["message"] for r in server.logs())
    assert token(tmp_path) not in server.log.read_text()


def test_a_tampered_module_under_policy_strict_is_refused_and_changes_nothing(
    tmp_path: Path, servers: list[Server]
) -> None:
    keys = generate_key_files(tmp_path / "release")
    key = read_signing_key(keys.private_file)
    (tmp_path / "fn.wasm").write_bytes(sign_module(module("one"), key))
    security = "{\n security {\n policy strict\n trusted_key_file release.pub\n }\n }"
    server = start(tmp_path, SITE.replace("SECURITY", security), workers=2)
    servers.append(server)
    secret = token(tmp_path)
    served = served_digest(server)

    signed = sign_module(module("two"), key)
    tampered = signed.replace(b"two", b"owt")
    response = deploy(server, tampered, secret)
    assert response.status_code == 422, response.text
    assert "refused by security policy strict" in response.json()["error"]
    assert "nothing changed" in response.json()["error"]
    unsigned = deploy(server, module("two"), secret)
    assert unsigned.status_code == 422
    assert "unsigned" in unsigned.json()["error"]
    assert served_digest(server) == served
    assert {httpx.get(f"{server.url}/fn").text for _ in range(6)} == {"one"}

    accepted = deploy(server, signed, secret)
    assert accepted.status_code == 200, accepted.text
    assert {httpx.get(f"{server.url}/fn").text for _ in range(6)} == {"two"}


def test_modules_that_do_not_compile_or_lack_a_grant_are_refused_before_switching(
    tmp_path: Path, servers: list[Server]
) -> None:
    (tmp_path / "fn.wasm").write_bytes(module("one"))
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=1)
    servers.append(server)
    secret = token(tmp_path)
    served = served_digest(server)

    broken = deploy(server, b"\0asm\x01\0\0\0\x01\xff", secret)
    assert broken.status_code == 422
    assert "nothing changed" in broken.json()["error"]
    wants_kv = wasmtime.wat2wasm(
        '(module (import "pyjinn" "kv_get" (func (param i32 i32) (result i64)))'
        ' (memory (export "memory") 1) (func (export "_start")))'
    )
    ungranted = deploy(server, bytes(wants_kv), secret)
    assert ungranted.status_code == 422
    assert "kv_get" in ungranted.json()["error"]
    unknown = deploy(server, module("two"), secret, name="nope")
    assert unknown.status_code == 404
    assert served_digest(server) == served
    assert httpx.get(f"{server.url}/fn").text == "one"


def test_rollback_restores_the_previous_digest_and_history_shows_in_status(
    tmp_path: Path, servers: list[Server]
) -> None:
    one, two, three = module("one"), module("two"), module("three")
    (tmp_path / "fn.wasm").write_bytes(one)
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=2)
    servers.append(server)
    secret = token(tmp_path)
    assert rollback(server, secret).status_code == 409  # nothing earlier yet

    assert deploy(server, two, secret).status_code == 200
    assert deploy(server, three, secret).status_code == 200
    back = rollback(server, secret)
    assert back.status_code == 200, back.text
    assert back.json()["sha256"] == digest(two)
    assert back.json()["previous"] == digest(three)
    assert served_digest(server) == digest(two)
    assert {httpx.get(f"{server.url}/fn").text for _ in range(6)} == {"two"}

    to_first = rollback(server, secret, to=digest(one)[:12])
    assert to_first.status_code == 200, to_first.text
    assert served_digest(server) == digest(one)
    unknown = rollback(server, secret, to="ffffffffffff")
    assert unknown.status_code == 409
    assert "kept, newest first" in unknown.json()["error"]

    [function] = server.status()["functions"]
    history = [(v["sha256"], v["how"]) for v in function["versions"]]
    assert history[0] == (digest(one), "rollback")
    assert {digest(two), digest(three)} <= {sha for sha, _ in history}
    routes = server.status()["routes"]
    assert routes[0]["function"] == "fn" and routes[0]["sha256"] == digest(one)


def test_a_deployed_version_survives_a_restart_until_the_module_file_changes(
    tmp_path: Path, servers: list[Server]
) -> None:
    (tmp_path / "fn.wasm").write_bytes(module("one"))
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=1)
    assert deploy(server, module("two"), token(tmp_path)).status_code == 200
    server.stop()

    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=1)  # new ports, same data
    servers.append(server)
    assert httpx.get(f"{server.url}/fn").text == "two"

    (tmp_path / "fn.wasm").write_bytes(module("three"))  # a new build wins over the deploy
    started = time.monotonic()
    server.process.send_signal(1)  # SIGHUP
    wait_until(lambda: httpx.get(f"{server.url}/fn").text == "three")
    print(f"reload took {time.monotonic() - started:.3f} s")


def logging_module(text: str) -> bytes:
    """Answers ``text`` and writes ``log: TEXT`` to stderr (the function's log)."""
    line = f"log: {text}\n".encode()
    escaped = "".join(f"\\{byte:02x}" for byte in line)
    wat = wat_writing(
        f'{{"body":"{text}"}}',
        then=f"""
        (i32.store (i32.const 0) (i32.const 512))
        (i32.store (i32.const 4) (i32.const {len(line)}))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))""",
    )
    wat = wat.replace(
        '(memory (export "memory") 1)',
        f'(memory (export "memory") 1) (data (i32.const 512) "{escaped}")',
    )
    return bytes(wasmtime.wat2wasm(wat))


def test_the_cli_deploys_rolls_back_and_shows_routes_and_logs(
    tmp_path: Path, servers: list[Server]
) -> None:
    from click.testing import CliRunner

    from pyjinn.cli import main

    (tmp_path / "fn.wasm").write_bytes(logging_module("one"))
    caddyfile = SITE.replace("SECURITY", "{\n permissions {\n kv_read notes\n }\n }")
    server = start(tmp_path, caddyfile, workers=2)
    servers.append(server)
    cli = CliRunner()
    where = ["--caddyfile", str(tmp_path / "Caddyfile")]

    (tmp_path / "next.wasm").write_bytes(logging_module("two"))
    deployed = cli.invoke(main, ["deploy", str(tmp_path / "next.wasm"), "--function", "fn", *where])
    assert deployed.exit_code == 0, deployed.output
    assert "Deployed fn:" in deployed.stdout and "on 2 worker(s)" in deployed.stdout
    assert {httpx.get(f"{server.url}/fn").text for _ in range(6)} == {"two"}

    routes = cli.invoke(main, ["routes", "--json", *where])
    [route] = json.loads(routes.stdout)
    assert route["path"] == "/fn" and route["function"] == "fn"
    assert route["sha256"] == digest(logging_module("two"))
    assert route["grants"] == {"kv_read": ["notes"]}
    assert "/fn" in cli.invoke(main, ["routes", *where]).stdout

    rolled = cli.invoke(main, ["rollback", "fn", *where])
    assert rolled.exit_code == 0, rolled.output
    assert "Rolled back fn:" in rolled.stdout
    assert httpx.get(f"{server.url}/fn").text == "one"

    def logged() -> list[dict]:
        shown = cli.invoke(main, ["logs", "fn", "--json", "-n", "100", *where])
        assert shown.exit_code == 0, shown.output
        return [json.loads(line) for line in shown.stdout.splitlines()]

    def access_and_guest(records: list[dict]) -> bool:
        guest = any(r.get("message") == "log: one" for r in records)
        access = any(r["logger"] == "pyjinn.access" and r.get("path") == "/fn" for r in records)
        return guest and access  # access records are written in batches, a moment later

    wait_until(lambda: access_and_guest(logged()))
    records = logged()
    assert {r["function"] for r in records} == {"fn"}
    assert "GET /fn 200" in cli.invoke(main, ["logs", "fn", *where]).stdout

    unknown = cli.invoke(main, ["logs", "nope", *where])
    assert unknown.exit_code == 1 and "no function named 'nope'" in unknown.output
    refused = cli.invoke(main, ["deploy", "fn", *where], env={"PYJINN_ADMIN_TOKEN": "x" * 20})
    assert refused.exit_code == 1 and "401" in refused.output


def test_logs_follow_streams_new_records_as_they_are_written(
    tmp_path: Path, servers: list[Server]
) -> None:
    (tmp_path / "fn.wasm").write_bytes(logging_module("one"))
    server = start(tmp_path, SITE.replace("SECURITY", ""), workers=1)
    servers.append(server)
    seen: list[dict] = []

    def follow() -> None:
        params = {"function": "fn", "lines": "0", "follow": "1"}
        with httpx.stream("GET", f"{server.admin}/logs", params=params, timeout=30) as stream:
            for line in stream.iter_lines():
                seen.append(json.loads(line))
                if len(seen) >= 2:
                    return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    time.sleep(0.5)
    httpx.get(f"{server.url}/fn")
    reader.join(20)
    assert {r["logger"] for r in seen} == {"pyjinn.access", "pyjinn.guest"}, seen
