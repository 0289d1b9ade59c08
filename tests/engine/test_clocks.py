"""WASI's clocks as pyjinn serves them: wasmtime's answers, every reading kept for the record.
The native clock (the ``_fastinvoke`` extension) and the Python one (no extension, replay)
answer alike."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
import wasmtime

from pyjinn.config.model import Limits
from pyjinn.engine import native
from pyjinn.engine.context import CLOCK_ENTRY
from pyjinn.engine.invoke import SNAPSHOT_ALWAYS, Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader

# Each call's errno goes to 1000 + 4*i, its value to 2000 + 8*i.
CALLS = [
    ("clock_time_get", 0, 2000),  # realtime
    ("clock_time_get", 1, 2008),  # monotonic
    ("clock_res_get", 0, 2016),
    ("clock_res_get", 1, 2024),
    ("clock_time_get", 2, 2032),  # process CPU time: EBADF, as wasmtime
    ("clock_time_get", 7, 2040),  # no such clock: EINVAL
    ("clock_time_get", 0, 65532),  # a pointer past memory: EFAULT
    ("clock_time_get", 1, 2048),  # monotonic again
]


def _call(index: int, name: str, clock: int, at: int) -> str:
    call = (
        f"(call $time (i32.const {clock}) (i64.const 1) (i32.const {at}))"
        if name == "clock_time_get"
        else f"(call $res (i32.const {clock}) (i32.const {at}))"
    )
    return f"(i32.store (i32.const {1000 + 4 * index}) {call})"


GUEST = f"""
(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $time (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $res (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") {" ".join(_call(i, *call) for i, call in enumerate(CALLS))}))
"""


@pytest.fixture(params=["native", "python"])
def loader(request, engine, tmp_path: Path) -> ModuleLoader:
    if request.param == "native" and native.extension is None:
        pytest.skip("the _fastinvoke extension is not built")
    # A replay loader links the Python clock (and without a replay source it answers live).
    return ModuleLoader(engine, None, replay=request.param == "python")


def test_clocks_answer_as_wasmtime_did_and_every_reading_is_logged(engine, loader) -> None:
    module = loader.load_bytes(Path("clocks.wat"), bytes(wasmtime.wat2wasm(GUEST)))
    before = time.time_ns()
    run = invoke(engine, module, Sandbox(engine, Limits(timeout=5)), b"", snapshot=SNAPSHOT_ALWAYS)
    after = time.time_ns()
    assert run.error is None, run.error
    assert run.memory is not None
    memory = run.memory.to_bytes()
    errnos = [struct.unpack_from("<I", memory, 1000 + 4 * i)[0] for i in range(len(CALLS))]
    assert errnos == [0, 0, 0, 0, 8, 28, 21, 0]
    realtime, monotonic, res_real, res_mono = struct.unpack_from("<QQQQ", memory, 2000)
    later = struct.unpack_from("<Q", memory, 2048)[0]
    assert before <= realtime <= after
    assert 0 < monotonic <= later < 5_000_000_000  # counts from the sandbox's creation
    assert (res_real, res_mono) == (1, 1)
    log = [CLOCK_ENTRY.unpack_from(run.clock_log, offset)
           for offset in range(0, len(run.clock_log), CLOCK_ENTRY.size)]  # fmt: skip
    assert log == [
        (0, 0, 0, realtime),
        (0, 0, 1, monotonic),
        (1, 0, 0, 1),
        (1, 0, 1, 1),
        (0, 8, 2, 0),
        (0, 28, 7, 0),
        (0, 0, 1, later),  # the EFAULT call read nothing
    ]
