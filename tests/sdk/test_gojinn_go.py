"""A Go function written with Gojinn's Go SDK API runs in pyjinn unchanged.

tests/sdk/gojinn/ is a stand-in for that SDK (module github.com/pauloappbr/gojinn, package
sdk), written from its documented API and declaring its host imports as it does, in module
``gojinn``: ``host_kv_get`` with the 32-bit result that did not even link in Gojinn v1.0. The
function below is what a Gojinn user writes; it is built with pyjinn's Go recipe and served
under the ``gojinn`` directive, against a real key-value store (NATS) and SQLite.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import wasmtime

from pyjinn.abi import FUNCTIONS, GOJINN, VARIANTS
from pyjinn.toolchain.go import find_go
from tests.sdk.support import StoreClient, build_recipe, skip_without

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

GOJINN_SDK = Path(__file__).resolve().parent / "gojinn"

FUNCTION = r"""
package main

import "github.com/pauloappbr/gojinn/sdk"

func main() {
	req, err := sdk.Parse()
	if err != nil {
		sdk.SendError(400, "invalid request")
		return
	}
	sdk.Log("Received method: %s", req.Method)
	switch req.URI {
	case "/visit":
		previous, found := sdk.KV.Get("visits/last")
		sdk.KV.Set("visits/last", req.Body)
		sdk.SendJSON(map[string]interface{}{"previous": previous, "found": found})
	case "/rows":
		rows, err := sdk.DB.Query("SELECT 7 AS n, 'seven' AS name")
		if err != nil {
			sdk.SendError(500, err.Error())
			return
		}
		sdk.SendJSON(rows)
	case "/broken-sql":
		_, err := sdk.DB.Query("SELEC nonsense")
		sdk.SendError(500, err.Error())
	default:
		sdk.SendHTML("<h1>" + req.Method + " " + req.URI + "</h1>")
	}
}
"""

GO_MOD = f"""module gojinnfn

go 1.21

require github.com/pauloappbr/gojinn v1.0.0

replace github.com/pauloappbr/gojinn => {GOJINN_SDK}
"""

CADDYFILE = """
:8080 {
    gojinn fn.wasm {
        db_driver sqlite
        permissions {
            kv_read visits
            kv_write visits
            db read
        }
    }
}
"""


@pytest.fixture(scope="module")
def gojinn_function() -> Path:
    skip_without(find_go)
    return build_recipe("go", {"go.mod": GO_MOD, "main.go": FUNCTION}, GOJINN_SDK)


@pytest.fixture
def client(store_client: StoreClient, project, gojinn_function: Path) -> httpx.AsyncClient:
    project("fn.wasm", gojinn_function)
    return store_client(CADDYFILE)


def test_it_imports_gojinns_functions_with_their_signatures(gojinn_function: Path) -> None:
    module = wasmtime.Module(wasmtime.Engine(), gojinn_function.read_bytes())
    known = {(f.name, (f.params, f.results)) for f in (*FUNCTIONS, *VARIANTS) if f.module == GOJINN}
    imported = {
        (item.name, (tuple(map(str, item.type.params)), tuple(map(str, item.type.results))))
        for item in module.imports
        if item.module == GOJINN and isinstance(item.type, wasmtime.FuncType)
    }
    assert {name for name, _ in imported} == {"host_kv_set", "host_kv_get", "host_db_query"}
    assert imported <= known
    # Gojinn's Go SDK declares host_kv_get's result as 32 bits: the variant pyjinn links.
    assert ("host_kv_get", (("i32",) * 4, ("i32",))) in imported
    assert {item.module for item in module.imports} == {GOJINN, "wasi_snapshot_preview1"}


async def test_send_html_and_log_reach_the_client_and_the_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pyjinn.guest"):
        response = await client.get("/page")
    assert (response.status_code, response.text) == (200, "<h1>GET /page</h1>")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-powered-by"] == "Gojinn SDK"
    logged = [r.getMessage() for r in caplog.records if r.name == "pyjinn.guest"]
    assert "USER_LOG: Received method: GET" in logged


async def test_kv_set_and_get_use_the_tenants_store(client: httpx.AsyncClient) -> None:
    first = await client.post("/visit", content="first")
    assert first.json() == {"previous": "", "found": False}
    second = await client.post("/visit", content="second")
    assert second.json() == {"previous": "first", "found": True}


async def test_db_query_returns_rows_as_objects_and_errors_as_errors(
    client: httpx.AsyncClient,
) -> None:
    rows = await client.get("/rows")
    assert (rows.status_code, rows.json()) == (200, [{"n": 7, "name": "seven"}])
    broken = await client.get("/broken-sql")
    assert broken.status_code == 500
    assert "syntax error" in broken.json()["error"]


async def test_a_kv_key_outside_its_permissions_is_not_found_not_leaked(
    store_client: StoreClient, project, gojinn_function: Path
) -> None:
    project("fn.wasm", gojinn_function)
    caddyfile = CADDYFILE.replace("kv_read visits", "kv_read other")
    client = store_client(caddyfile)
    await client.post("/visit", content="hidden")
    # host_kv_get answers -1 for a denied key, as for a missing one (Gojinn's convention).
    assert (await client.post("/visit", content="again")).json() == {
        "previous": "",
        "found": False,
    }
