"""A Go function written with the Gojinn successor's Mutex and HttpGet runs in pyjinn unchanged:
its ``host_mutex_*`` honour the lock's holder, its ``host_http_get`` reaches only allow_host's
hosts. Built against the stand-in of Gojinn's Go SDK in tests/sdk/gojinn/ (see its README)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from pyjinn.toolchain.go import find_go
from tests.sdk.support import StoreClient, build_recipe, skip_without
from tests.servers import ScriptedHttp

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
	switch req.URI {
	case "/lock":
		taken := sdk.Mutex.TryLock("jobs/nightly", 30)
		again := sdk.Mutex.TryLock("jobs/nightly", 30)
		released := sdk.Mutex.Unlock("jobs/nightly")
		sdk.SendJSON(map[string]bool{"taken": taken, "again": again, "released": released})
	default:
		sdk.SendJSON(map[string]string{"body": sdk.HttpGet(req.Body)})
	}
}
"""

GO_MOD = f"""module gojinnfn

go 1.21

require github.com/pauloappbr/gojinn v1.0.0

replace github.com/pauloappbr/gojinn => {GOJINN_SDK}
"""


@pytest.fixture(scope="module")
def gojinn_function() -> Path:
    skip_without(find_go)
    return build_recipe("go", {"go.mod": GO_MOD, "main.go": FUNCTION}, GOJINN_SDK)


@pytest.fixture
def scripted():
    server = ScriptedHttp()
    yield server
    server.stop()


@pytest.fixture
def client(
    store_client: StoreClient, project, gojinn_function: Path, scripted: ScriptedHttp
) -> httpx.AsyncClient:
    project("fn.wasm", gojinn_function)
    return store_client(
        f"""
        :8080 {{
            gojinn fn.wasm {{
                allow_host 127.0.0.1:{scripted.port}
                permissions {{
                    http
                    lock jobs
                }}
            }}
        }}
        """
    )


async def test_mutex_try_lock_and_unlock_answer_as_gojinns_sdk_expects(client) -> None:
    response = await client.get("/lock")
    assert response.json() == {"taken": True, "again": False, "released": True}


async def test_http_get_fetches_an_allowed_host_and_nothing_else(client, scripted) -> None:
    fetched = await client.post("/fetch", content=scripted.url("/size/5"))
    assert fetched.json() == {"body": "xxxxx"}
    refused = await client.post("/fetch", content="http://169.254.169.254/latest/meta-data/")
    assert refused.json() == {"body": ""}  # Gojinn's "" for any error; it fetched anything
