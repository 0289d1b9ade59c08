"""A guest that crashes leaves a backtrace naming its functions in the operator's log.

Rust and Go modules are built as ``pyjinn init``'s templates build them (function names kept,
DWARF dropped). A Rust panic aborts: the panic message is the function's log (stderr), and the
trap's wasm backtrace, in the failure record, names each function down to ``main``. A Go
panic exits with status 2 after Go's own traceback, which names each function with its file and
line, on stderr. An AssemblyScript module built with names kept (``flags = ["--debug"]``) has
wasmtime's trace of the trap name its functions; a release build keeps none. The client gets
the usual short 502 either way; the names stay in the log.
"""

from __future__ import annotations

import logging

import pytest

from pyjinn.engine.invoke import invoke
from pyjinn.errors import GuestError
from tests.sdk.support import build_assemblyscript, build_go, build_rust

pytestmark = pytest.mark.slow

RUST_CRASH = r"""
use pyjinn::{Request, Response};

#[inline(never)]
fn pick_shelf(shelves: &[u32], index: usize) -> u32 {
    shelves[index]
}

fn handle(request: Request) -> Response {
    let index = request.query_param("shelf").and_then(|s| s.parse().ok()).unwrap_or(0);
    Response::text(200, pick_shelf(&[1, 2, 3], index).to_string())
}

fn main() {
    pyjinn::run(handle);
}
"""

GO_CRASH = r"""
package main

import (
	"strconv"

	"pyjinn"
)

//go:noinline
func pickShelf(shelves []int, index int) int {
	return shelves[index]
}

func handle(request pyjinn.Request) pyjinn.Response {
	index, _ := strconv.Atoi(request.QueryParam("shelf"))
	return pyjinn.Text(200, strconv.Itoa(pickShelf([]int{1, 2, 3}, index)))
}

func main() {
	pyjinn.Run(handle)
}
"""

CADDYFILE = ":8080 {\n    pyjinn crash.wasm\n}\n"


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == logger)


@pytest.mark.anyio
async def test_a_rust_panic_logs_its_message_and_a_backtrace_naming_the_functions(
    make_client, project, caplog: pytest.LogCaptureFixture
) -> None:
    project("crash.wasm", build_rust(RUST_CRASH))
    client = make_client(CADDYFILE)
    assert (await client.get("/?shelf=1")).text == "2"

    with caplog.at_level(logging.INFO):
        response = await client.get("/?shelf=7")

    assert response.status_code == 502
    assert response.json()["error"] == "function crashed: unreachable instruction executed"
    assert "index out of bounds: the len is 3 but the index is 7" in messages(
        caplog, "pyjinn.guest"
    )
    failure = messages(caplog, "pyjinn.invocation")
    assert "wasm backtrace:" in failure
    backtrace = failure[failure.index("wasm backtrace:") :]
    # handle itself is inlined into main by the optimiser; pick_shelf is not.
    for name in ("core::panicking::panic_bounds_check", "guest::pick_shelf", "guest::main"):
        assert name in backtrace, f"{name} is not in the backtrace:\n{backtrace}"
    assert backtrace.index("guest::pick_shelf") < backtrace.index("guest::main")
    assert "<wasm function" not in backtrace
    assert "wasm backtrace:" not in response.text  # internals stay in the log


@pytest.mark.anyio
async def test_a_go_panic_logs_gos_traceback_naming_the_functions_and_lines(
    make_client, project, caplog: pytest.LogCaptureFixture
) -> None:
    project("crash.wasm", build_go(GO_CRASH))
    client = make_client(CADDYFILE)
    assert (await client.get("/?shelf=1")).text == "2"

    with caplog.at_level(logging.INFO):
        response = await client.get("/?shelf=7")

    assert response.status_code == 502
    assert response.json()["error"] == "function failed"
    log = messages(caplog, "pyjinn.guest")
    assert "panic: runtime error: index out of range [7] with length 3" in log
    # -trimpath: files are named by module path (guest/main.go), not by where they were built.
    for frame in ("main.pickShelf(", "guest/main.go:12", "main.handle(", "pyjinn.Run("):
        assert frame in log, f"{frame} is not in the traceback:\n{log}"
    assert log.index("main.pickShelf(") < log.index("main.handle(")
    assert "status 2" in messages(caplog, "pyjinn.invocation")


ASSEMBLYSCRIPT_TRAP = """
function innerNamed(depth: i32): i32 {
  if (depth > 2) unreachable();
  return depth;
}

export function outerNamed(depth: i32): i32 {
  return innerNamed(depth + 3);
}

outerNamed(<i32>process.argv.length);
"""


def test_an_assemblyscript_trap_names_the_functions_of_a_debug_build(make_runtime, project) -> None:
    project("trap.wasm", build_assemblyscript(ASSEMBLYSCRIPT_TRAP, debug=True))
    runtime = make_runtime(":8080 {\n pyjinn trap.wasm\n}\n")
    function = runtime.functions["trap"]
    run = invoke(runtime.engine, function.module, function.sandbox, b"{}")
    assert isinstance(run.error, GuestError)
    assert run.error.kind == "trap"
    assert "unreachable" in run.error.detail
    # The call stack, innermost first (the optimiser inlined innerNamed into outerNamed).
    assert "!main/outerNamed" in run.error.detail
    assert run.error.detail.index("main/outerNamed") < run.error.detail.index("!~start")


def test_a_release_build_keeps_no_names(make_runtime, project) -> None:
    project("trap.wasm", build_assemblyscript(ASSEMBLYSCRIPT_TRAP))
    runtime = make_runtime(":8080 {\n pyjinn trap.wasm\n}\n")
    function = runtime.functions["trap"]
    run = invoke(runtime.engine, function.module, function.sandbox, b"{}")
    assert isinstance(run.error, GuestError)
    assert "outerNamed" not in run.error.detail
