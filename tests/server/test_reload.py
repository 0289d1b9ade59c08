"""Reload: all or nothing, in-flight requests finish on what they started with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from pyjinn.server.app import create_app
from pyjinn.server.reload import reload_app
from tests.helpers import wat_writing

pytestmark = pytest.mark.anyio


def answer(text: str) -> str:
    return wat_writing(f'{{"status":200,"body":"{text}"}}')


CADDYFILE = """{
\tadmin off
}
:8080 {
\thandle /fn {
\t\tpyjinn fn.wat
\t}
\thandle /slow {
\t\tpyjinn slow.wasm
\t}
}
"""


@pytest.fixture
async def served(tmp_path: Path, project, c_guest):
    project("fn.wat", answer("one"))
    project("slow.wasm", c_guest("behave"))
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    app = create_app(caddyfile)
    await app.connect()  # as its first request would (ASGITransport sends no lifespan events)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    yield app, client, caddyfile
    await client.aclose()
    app.close()  # the runtime, and the embedded nats-server create_app started


async def test_a_changed_module_is_served_after_reload(served, project) -> None:
    app, client, caddyfile = served
    before = app.runtime.functions["fn"].module.digest
    assert (await client.get("/fn")).text == "one"
    project("fn.wat", answer("two"))
    outcome = await reload_app(app, caddyfile)
    assert outcome.applied
    assert outcome.digests["fn"] != before
    assert (await client.get("/fn")).text == "two"


async def test_unchanged_modules_are_not_compiled_again(served) -> None:
    app, _client, caddyfile = served
    module = app.runtime.functions["slow"].module
    assert (await reload_app(app, caddyfile)).applied
    assert app.runtime.functions["slow"].module is module


async def test_a_module_that_fails_to_load_refuses_the_whole_reload(served, project) -> None:
    app, client, caddyfile = served
    project("fn.wat", '(module (import "env" "nope" (func)) (func (export "_start")))')
    outcome = await reload_app(app, caddyfile)
    assert not outcome.applied
    assert any("imports 'env.nope'" in problem for problem in outcome.problems)
    assert (await client.get("/fn")).text == "one"


async def test_a_config_error_refuses_the_reload(served) -> None:
    app, client, caddyfile = served
    caddyfile.write_text(
        CADDYFILE.replace("pyjinn fn.wat", "pyjinn fn.wat {\n\t\t\ttimeout x\n\t\t}")
    )
    outcome = await reload_app(app, caddyfile)
    assert outcome.problems == [
        f"{caddyfile}:7: invalid duration 'x' for timeout: expected a "
        "duration like 2s, 500ms or 1h30m"
    ]
    assert (await client.get("/fn")).text == "one"


async def test_changed_listening_addresses_need_a_restart(served) -> None:
    app, client, caddyfile = served
    caddyfile.write_text(CADDYFILE.replace(":8080", ":8081"))
    outcome = await reload_app(app, caddyfile)
    assert outcome.problems == [
        "the listening addresses changed; restart pyjinn to listen on new addresses"
    ]
    assert (await client.get("/fn")).status_code == 200


async def test_changed_server_settings_need_a_restart(served) -> None:
    # Workers apply the servers option when they start serving; a reload cannot change it.
    app, client, caddyfile = served
    caddyfile.write_text(
        CADDYFILE.replace("admin off", "admin off\n\tservers {\n\t\tmax_connections 10\n\t}")
    )
    outcome = await reload_app(app, caddyfile)
    assert outcome.problems == [
        "the servers option (timeouts, max_connections) changed; restart pyjinn to apply it"
    ]
    assert (await client.get("/fn")).status_code == 200


async def test_a_request_in_flight_finishes_on_the_runtime_it_started_with(served, project) -> None:
    app, client, caddyfile = served
    old = app.runtime
    slow = asyncio.create_task(client.get("/slow?sleep_ms=300"))
    await asyncio.sleep(0.1)
    project("fn.wat", answer("two"))
    assert (await reload_app(app, caddyfile)).applied
    assert app.runtime is not old
    assert old.active == 1  # still serving the slow request
    assert (await slow).text == "runs=1"
    assert old.active == 0
    assert (await client.get("/fn")).text == "two"


async def test_the_replaced_runtime_closes_but_the_shared_engine_keeps_ticking(served) -> None:
    app, client, caddyfile = served
    old = app.runtime
    assert (await client.get("/fn")).status_code == 200  # starts the engine's ticker
    assert (await reload_app(app, caddyfile)).applied
    assert app.runtime.engine is old.engine
    for _ in range(200):
        if old._threads._closed:
            break
        await asyncio.sleep(0.01)
    assert old._threads._closed
    assert app.runtime.engine._ticker is not None
    # Timeouts still fire: the epoch keeps advancing.
    assert (await client.get("/slow?sleep_ms=10")).status_code == 200


def test_create_app_refuses_modules_that_cannot_load(tmp_path: Path, project) -> None:
    from pyjinn.errors import ModuleErrors

    project("fn.wat", '(module (import "env" "nope" (func)) (func (export "_start")))')
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(":8080 {\n\tpyjinn fn.wat\n}\n")
    with pytest.raises(ModuleErrors) as raised:
        create_app(caddyfile)
    assert raised.value.problems[0].startswith(f"{caddyfile}:2: function 'fn': ")
