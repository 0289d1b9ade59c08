"""A guest that crashes is reported with a backtrace that names its functions: for
AssemblyScript built with names kept (flags = ["--debug"]), wasmtime's trace of the trap; for
Python, the interpreter's traceback."""

from __future__ import annotations

import pytest

from pyjinn.engine.invoke import invoke
from pyjinn.errors import GuestError
from tests.sdk.support import build_assemblyscript

pytestmark = pytest.mark.slow

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
