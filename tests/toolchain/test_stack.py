"""The stack `pyjinn build` gives C functions: small (cheap to reset between invocations),
overflowing it traps instead of corrupting memory, and a recipe's flags can raise it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from pyjinn.config.model import Limits
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from pyjinn.toolchain import build_function

pytestmark = pytest.mark.slow

# Recursion whose frames stay alive (each reads its buffer after the call returns): 1 KiB of
# stack per level. A canary in the data section shows whether an overflow trampled memory.
DEEP = r"""
#include <stdio.h>
#include <string.h>
static int canary = 12345;
__attribute__((noinline)) static int depth(int n) {
    volatile char buf[1024];
    memset((char *)buf, n, sizeof buf);
    if (n == 0) return 0;
    int r = depth(n - 1);
    return r + buf[n % 1024];
}
int main(void) {
    int n = 0;
    if (scanf("%d", &n) != 1) return 2;
    int r = depth(n);
    printf("{\"status\":200,\"body\":\"%d %d\"}", r, canary);
    return 0;
}
"""


def build(tmp_path: Path, flags: list[str] | None = None) -> Path:
    directory = tmp_path / "functions" / "deep"
    directory.mkdir(parents=True)
    (directory / "main.c").write_text(DEEP)
    if flags is not None:
        (directory / "function.toml").write_text(f"flags = {json.dumps(flags)}\n")
    result = build_function(directory, echo=lambda _line: None)
    assert result.ok, result
    return tmp_path / "functions" / "deep.wasm"


def run(module: Path, levels: int) -> tuple[str | None, str]:
    engine = Engine()
    try:
        loaded = ModuleLoader(engine, module.parent / "cache").load(module)
        outcome = invoke(engine, loaded, Sandbox(engine, Limits()), str(levels).encode())
    finally:
        engine.close()
    if outcome.error is not None:
        return outcome.error.detail, ""
    return None, json.loads(outcome.stdout)["body"]


def initial_pages(module: Path) -> int:
    (memory,) = (
        export.type
        for export in wasmtime.Module.from_file(wasmtime.Engine(), module).exports
        if isinstance(export.type, wasmtime.MemoryType)
    )
    return int(memory.limits.min)


def test_a_c_function_starts_with_a_small_memory_and_traps_when_it_overflows_its_stack(
    tmp_path: Path,
) -> None:
    module = build(tmp_path)
    assert initial_pages(module) <= 4  # zig's own default stack alone is 256 pages
    assert run(module, 40) == (None, "820 12345")
    error, _ = run(module, 200)  # ~200 KiB of stack
    assert error is not None and "out of bounds memory access" in error


def test_a_recipe_can_give_its_function_a_deeper_stack(tmp_path: Path) -> None:
    module = build(tmp_path, ["-Wl,-z,stack-size=1048576"])
    assert run(module, 200) == (None, "1412 12345")
