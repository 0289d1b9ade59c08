"""The notes example (examples/functions/notes), built against the C SDK: its HTTP answers for
host errors, and its whole cycle against a real key-value store. The SDKs themselves are
tested in test_probe.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.sdk.support import KV_CADDYFILE, ROOT, StoreClient, build_c

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

NOTES = ROOT / "examples" / "functions" / "notes" / "main.c"
NOTES_CADDYFILE = KV_CADDYFILE.replace("kv.wasm", "notes.wasm")


@pytest.fixture
def notes_wasm(project) -> Path:
    return project("notes.wasm", build_c(NOTES.read_text()))


@pytest.fixture
def notes(make_client, notes_wasm: Path) -> httpx.AsyncClient:
    return make_client(NOTES_CADDYFILE)


@pytest.fixture
def stored_notes(store_client: StoreClient, notes_wasm: Path) -> httpx.AsyncClient:
    return store_client(NOTES_CADDYFILE)


async def test_notes_answers_host_errors_with_http_statuses(notes: httpx.AsyncClient) -> None:
    response = await notes.put("/notes/a b", content="text")
    assert (response.status_code, response.json()["error"]) == (
        400,
        "invalid key 'notes/a b': use A-Z a-z 0-9 _ - . / =, not starting or ending with . or /, "
        "without .. or //",
    )
    response = await notes.get("/notes")
    assert (response.status_code, response.json()) == (
        503,
        {"error": "no key-value store is configured"},
    )


async def test_notes_refuses_other_methods_and_paths(notes: httpx.AsyncClient) -> None:
    assert (await notes.post("/notes/a")).status_code == 405
    assert (await notes.delete("/notes")).status_code == 405
    assert (await notes.get("/elsewhere")).status_code == 404


async def test_notes_stores_reads_lists_and_deletes(stored_notes: httpx.AsyncClient) -> None:
    notes = stored_notes  # the example, with a store behind it
    assert (await notes.put("/notes/shopping", content="milk\neggs")).status_code == 204
    assert (await notes.put("/notes/todo", content="write docs")).status_code == 204
    response = await notes.get("/notes/shopping")
    assert (response.status_code, response.text) == (200, "milk\neggs")
    assert sorted((await notes.get("/notes")).json()) == ["shopping", "todo"]
    assert (await notes.delete("/notes/shopping")).status_code == 204
    response = await notes.get("/notes/shopping")
    assert (response.status_code, response.json()) == (404, {"error": "no key 'notes/shopping'"})
    assert (await notes.get("/notes")).json() == ["todo"]
