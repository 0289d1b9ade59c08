"""The complete Rust and Go functions in docs/languages.md build and do what the page says: a
visit counter on the key-value store, under the Caddyfile block shown there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sdk.support import ROOT, StoreClient, build_go, build_rust

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

DOC = ROOT / "docs" / "languages.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), re.DOTALL | re.MULTILINE)


def complete_function(language: str, entry: str) -> str:
    (source,) = [block for block in code_blocks(language) if entry in block]
    return source


def caddyfile() -> str:
    (block,) = [block for block in code_blocks("caddyfile") if "functions/visits.wasm" in block]
    return ":8080 {\n" + block.replace("functions/visits.wasm", "visits.wasm") + "}\n"


@pytest.mark.parametrize("language", ["rust", "go"])
async def test_the_visit_counter_counts_per_page(
    store_client: StoreClient, project, language: str
) -> None:
    if language == "rust":
        module: Path = build_rust(complete_function("rust", "fn main()"))
    else:
        module = build_go(complete_function("go", "func main()"))
    project("visits.wasm", module)
    client = store_client(caddyfile())

    for expected in (1, 2, 3):
        response = await client.get("/visits", params={"page": "docs"})
        assert (response.status_code, response.json()) == (
            200,
            {"page": "docs", "visits": expected},
        )
    assert (await client.get("/visits")).json() == {"page": "home", "visits": 1}
