"""Pre-initialised modules (pyjinn/engine/preinit.py): an invocation starts from a memory image,
at an entry export with i32 arguments, in a fresh instance all the same; through the native path
and the ctypes fallback alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import wasmtime

from pyjinn.config.model import Limits
from pyjinn.engine import preinit
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import CompiledModule, ModuleLoader
from pyjinn.errors import GuestError, GuestFault

# init() writes "prepared" at 70000 (past the first page) and grows memory by a page;
# entry(at, length) writes memory[at, at + length) to stdout, then overwrites it with "spent"
# and returns length - 8 (0 for "prepared": an exit status otherwise).
WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 200) "spent")
  (func (export "_start"))
  (func (export "init")
    (memory.copy (i32.const 70000) (i32.const 300) (i32.const 8))
    (drop (memory.grow (i32.const 1))))
  (data (i32.const 300) "prepared")
  (func (export "entry") (param $at i32) (param $length i32) (result i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $length))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (memory.copy (local.get $at) (i32.const 200) (i32.const 5))
    (i32.sub (local.get $length) (i32.const 8))))
"""


@pytest.fixture
def prepared(engine: Engine, tmp_path: Path, mechanics: str) -> CompiledModule:
    """The module with its image taken after init(), entered at entry(70000, 8)."""
    path = tmp_path / "preinit.wat"
    path.write_text(WAT)
    module = ModuleLoader(engine, None).load(path)
    store = wasmtime.Store(engine.wasm)
    store.set_fuel(10**9)
    store.set_epoch_deadline(10**6)
    linker = wasmtime.Linker(engine.wasm)
    linker.define_wasi()
    store.set_wasi(wasmtime.WasiConfig())
    instance = linker.instantiate(store, module.module)
    initial = preinit.memory_bytes(store, instance)
    init = instance.exports(store)["init"]
    assert isinstance(init, wasmtime.Func)
    init(store)
    image = preinit.difference(initial, preinit.memory_bytes(store, instance))
    return dataclasses.replace(module, entry=preinit.Entry("entry", (70000, 8), 1), image=image)


def sandbox(engine: Engine, **limits: int) -> Sandbox:
    return Sandbox(engine, Limits(**limits))  # type: ignore[arg-type]


def test_the_image_holds_only_what_initialisation_changed(prepared: CompiledModule) -> None:
    image = prepared.image
    assert image is not None
    assert image.pages == 3  # grown by init
    assert image.run_count == 1
    assert image.restored_bytes == preinit.PAGE  # the one page holding "prepared"


def test_each_invocation_starts_from_the_image_in_a_fresh_instance(
    engine: Engine, prepared: CompiledModule
) -> None:
    for _ in range(3):  # entry overwrites the text: a reused instance would print "spent"
        run = invoke(engine, prepared, sandbox(engine), b"")
        assert (run.error, run.stdout) == (None, b"prepared")
        assert run.memory_bytes == 3 * preinit.WASM_PAGE


def test_an_entry_result_other_than_zero_is_the_exit_status(
    engine: Engine, prepared: CompiledModule
) -> None:
    module = dataclasses.replace(prepared, entry=preinit.Entry("entry", (70000, 11), 1))
    run = invoke(engine, module, sandbox(engine), b"")
    assert isinstance(run.error, GuestError)
    assert (run.error.fault, run.exit_code) == (GuestFault.EXIT, 3)


def test_an_image_larger_than_the_memory_limit_is_a_memory_limit_error(
    engine: Engine, prepared: CompiledModule
) -> None:
    run = invoke(engine, prepared, sandbox(engine, memory_limit=2 * preinit.WASM_PAGE), b"")
    assert isinstance(run.error, GuestError)
    assert run.error.fault is GuestFault.MEMORY_LIMIT


def test_a_missing_entry_is_named(engine: Engine, prepared: CompiledModule) -> None:
    module = dataclasses.replace(prepared, entry=preinit.Entry("serve", (), 0))
    run = invoke(engine, module, sandbox(engine), b"")
    assert run.error is not None
    assert "the instance has no serve function" in str(run.error.detail)


def test_difference_finds_changed_pages_and_pages_grown_past_the_initial_size() -> None:
    initial = bytes(2 * preinit.WASM_PAGE)
    current = bytearray(3 * preinit.WASM_PAGE)
    current[5] = 1
    current[preinit.PAGE * 3] = 2
    current[preinit.PAGE * 4] = 3  # adjacent: one run with the page before
    current[2 * preinit.WASM_PAGE + 7] = 4  # in the grown part
    image = preinit.difference(initial, bytes(current))
    assert image.pages == 3
    assert image.run_count == 3
    assert image.restored_bytes == 4 * preinit.PAGE
