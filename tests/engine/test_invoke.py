"""The one door into wasm: fresh sandboxes, limits, isolation, and how failures are classified."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn import contract
from pyjinn.config.model import Limits, Mount
from pyjinn.engine import invoke as invoke_module
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Run, Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader, read_module_bytes
from pyjinn.errors import Blame, GuestError, GuestFault, HostError
from tests.helpers import HELLO, WASI_IMPORTS, wat_trapping, wat_writing

MiB = 1024 * 1024


@pytest.fixture
def run(engine: Engine, tmp_path: Path, mechanics: str) -> Callable[..., Run]:
    loader = ModuleLoader(engine, tmp_path / "cache")

    def run(module: Path, request: bytes | dict[str, object] = b"{}", **options: object) -> Run:
        limits = Limits(**{k: v for k, v in options.items() if k in Limits.__dataclass_fields__})
        sandbox = Sandbox(
            engine,
            limits,
            argv=options.get("argv", ("main",)),  # type: ignore[arg-type]
            env=options.get("env", ()),  # type: ignore[arg-type]
            mounts=options.get("mounts", ()),  # type: ignore[arg-type]
        )
        stdin = (
            json.dumps(request, separators=(",", ":")).encode()
            if isinstance(request, dict)
            else request
        )
        mounts = options.get("mounts", ())
        symlinks = any(mount.symlinks for mount in mounts)  # type: ignore[attr-defined]
        data = read_module_bytes(module)
        loaded = loader.load_bytes(module, data, symlinks=symlinks, sandbox=sandbox)
        return invoke(engine, loaded, sandbox, stdin)

    return run


def query(**values: str) -> dict[str, object]:
    return {"query": {name: [value] for name, value in values.items()}}


def body_of(result: Run) -> str:
    assert result.error is None, result.error
    return contract.decode_response(result.stdout).body.decode()


def fault_of(result: Run) -> GuestFault:
    assert isinstance(result.error, GuestError), result.error
    assert result.error.blame is Blame.GUEST
    return result.error.fault


def test_a_guest_answer_comes_back_with_resource_use(run, project) -> None:
    result = run(project("hello.wat", wat_writing(HELLO)))
    assert result.error is None
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json.loads(HELLO)
    assert result.fuel_consumed > 0
    assert result.memory_bytes == 65536
    assert all(phase >= 0 for phase in result.phases)


def test_each_invocation_gets_a_fresh_instance(run, c_guest) -> None:
    module = c_guest("behave")
    assert [body_of(run(module, query(count="1"))) for _ in range(3)] == ["runs=1"] * 3


def test_exit_status_zero_is_success_and_nonzero_is_a_guest_failure(run, project) -> None:
    ok = run(project("exit0.wat", wat_writing(HELLO, then="(call $proc_exit (i32.const 0))")))
    assert ok.error is None and ok.exit_code == 0
    failed = run(project("exit3.wat", wat_writing(HELLO, then="(call $proc_exit (i32.const 3))")))
    assert fault_of(failed) is GuestFault.EXIT
    assert failed.exit_code == 3
    assert "status 3" in failed.error.detail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("(unreachable)", "unreachable instruction executed"),
        ("(drop (i32.load (i32.const 1000000)))", "out-of-bounds memory access"),
        ("(drop (call $recurse (i32.const 0)))", "stack overflow"),
        ("(drop (i32.div_u (i32.const 1) (i32.const 0)))", "integer division by zero"),
    ],
)
def test_traps_are_guest_failures_named_by_kind(run, project, body: str, expected: str) -> None:
    result = run(project("trap.wat", wat_trapping(body)))
    assert fault_of(result) is GuestFault.TRAP
    assert result.error.status == 502
    assert result.error.client_message == f"function crashed: {expected}"


def test_an_endless_loop_is_stopped_near_its_timeout(run, project) -> None:
    module = project("loop.wat", wat_trapping("(loop $forever (br $forever))"))
    started = time.monotonic()
    result = run(module, timeout=0.3)
    elapsed = time.monotonic() - started
    assert fault_of(result) is GuestFault.TIMEOUT
    assert result.error.status == 504
    assert 0.3 <= elapsed < 1.5


def test_a_sleeping_guest_is_woken_at_its_timeout(run, c_guest) -> None:
    started = time.monotonic()
    result = run(c_guest("behave"), query(sleep_ms="10000"), timeout=0.3)
    assert fault_of(result) is GuestFault.TIMEOUT
    assert time.monotonic() - started < 1.5


def test_a_short_sleep_completes(run, c_guest) -> None:
    started = time.monotonic()
    assert body_of(run(c_guest("behave"), query(sleep_ms="120"))) == "runs=1"
    assert time.monotonic() - started >= 0.12


def test_fuel_limit_stops_a_busy_guest(run, project) -> None:
    module = project("loop.wat", wat_trapping("(loop $forever (br $forever))"))
    result = run(module, fuel_limit=100_000, timeout=10)
    assert fault_of(result) is GuestFault.FUEL_EXHAUSTED
    assert "100000" in result.error.detail


def test_memory_growth_past_the_limit_is_a_memory_failure(run, c_guest) -> None:
    result = run(c_guest("behave"), query(alloc_mb="200"), memory_limit=32 * MiB)
    assert fault_of(result) is GuestFault.MEMORY_LIMIT
    assert result.memory_bytes <= 32 * MiB
    assert b"out of memory" in result.stderr


def test_a_module_whose_initial_memory_exceeds_the_limit_cannot_start(run, project) -> None:
    module = project(
        "big.wat", '(module (memory (export "memory") 100) (func (export "_start")))'
    )  # 100 pages = 6.25 MiB
    result = run(module, memory_limit=4 * MiB)
    assert fault_of(result) is GuestFault.MEMORY_LIMIT


def test_stdout_flood_is_capped_and_holds_bounded_memory(run, c_guest) -> None:
    result = run(c_guest("behave"), query(stdout_mb="100"), stdout_limit=1 * MiB)
    assert fault_of(result) is GuestFault.OUTPUT_LIMIT
    assert len(result.stdout) == 1 * MiB
    assert "1048576 bytes" in result.error.detail


def test_stderr_past_its_cap_is_cut_and_the_guest_may_still_answer(run, c_guest) -> None:
    # 1 MiB of log against a 512 KiB cap: cut, but within the grace, so the answer stands.
    result = run(c_guest("behave"), query(stderr_mb="1"), stderr_limit=MiB // 2)
    assert body_of(result) == "runs=1"
    assert result.stderr_truncated
    assert len(result.stderr) == MiB // 2


def flooding(fd: int) -> str:
    """A guest writing 64 KiB blocks to ``fd`` forever, ignoring every failed write."""
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 2)
      (data (i32.const 0) "\\00\\04\\00\\00\\00\\00\\01\\00")  ;; iovec: 64 KiB at 1024
      (func (export "_start")
        (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65536))  ;; "xxx..."
        (loop $forever
          (drop (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 16)))
          (br $forever))))
    """


def test_a_guest_flooding_stdout_past_its_cap_is_stopped_at_once(run, project) -> None:
    started = time.monotonic()
    result = run(project("flood.wat", flooding(1)), stdout_limit=64 * 1024, timeout=10)
    assert fault_of(result) is GuestFault.OUTPUT_LIMIT
    assert result.error.status == 502
    assert result.error.client_message == "function output too large"
    assert "stopped" in result.error.detail
    assert time.monotonic() - started < 2.0  # not its 10 s timeout
    assert len(result.stdout) == 64 * 1024


def test_a_guest_flooding_stderr_far_past_its_cap_is_stopped_at_once(run, project) -> None:
    started = time.monotonic()
    result = run(project("flood.wat", flooding(2)), stderr_limit=64 * 1024, timeout=10)
    assert fault_of(result) is GuestFault.OUTPUT_LIMIT
    assert "stderr" in result.error.detail
    assert time.monotonic() - started < 2.0
    assert result.stderr_truncated and len(result.stderr) == 64 * 1024


def test_output_over_its_cap_is_blamed_on_output_even_when_the_guest_then_times_out(
    run, project
) -> None:
    # The guest writes past its cap, then sleeps past its deadline (where no epoch tick can
    # see it): the answer is the output limit, not the timeout.
    writes = wat_writing(
        "x" * 4096,
        then="""
        (i32.store (i32.const 1000) (i32.const 0))        ;; subscription: userdata 0
        (i32.store8 (i32.const 1008) (i32.const 0))       ;; tag clock
        (i32.store (i32.const 1016) (i32.const 1))        ;; monotonic clock
        (i64.store (i32.const 1024) (i64.const 60000000000))  ;; 60 s
        (drop (call $poll_oneoff (i32.const 1000) (i32.const 2000) (i32.const 1) (i32.const 3000)))
    """,
    ).replace(
        WASI_IMPORTS,
        WASI_IMPORTS + '(import "wasi_snapshot_preview1" "poll_oneoff" '
        "(func $poll_oneoff (param i32 i32 i32 i32) (result i32)))",
    )
    result = run(project("write-then-sleep.wat", writes), stdout_limit=100, timeout=0.3)
    assert fault_of(result) is GuestFault.OUTPUT_LIMIT


def test_timeouts_fire_on_time_while_python_threads_hold_the_interpreter(
    run, project, mechanics: str
) -> None:
    # Busy Python threads contend for the GIL; ticks counted by a Python thread were delayed by
    # them (a 3 s timeout fired after 3.7-4 s under load). The deadline is read from the clock.
    # The native limits check needs no interpreter; the ctypes fallback's check is a Python
    # callback, which must win the interpreter from six spinners at a tick near the deadline
    # (it overshot by 0.3 s once on a loaded 2-core machine), so its bound is wider. Counting
    # ticks would overshoot either bound many times over.
    module = project("loop.wat", wat_trapping("(loop $forever (br $forever))"))
    run(module, timeout=0.01)  # compiled before the contention starts
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinners = [threading.Thread(target=spin) for _ in range(6)]
    for spinner in spinners:
        spinner.start()
    try:
        started = time.monotonic()
        result = run(module, timeout=0.5)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        for spinner in spinners:
            spinner.join()
    assert fault_of(result) is GuestFault.TIMEOUT
    assert 0.5 <= elapsed < (0.8 if mechanics == "native" else 1.5), elapsed


def test_output_exactly_at_the_limit_is_accepted(run, project) -> None:
    result = run(project("hello.wat", wat_writing(HELLO)), stdout_limit=len(HELLO))
    assert result.error is None
    assert result.stdout == HELLO.encode()


def test_the_guest_sees_exactly_the_declared_environment_and_arguments(run, c_guest) -> None:
    result = run(
        c_guest("environment"),
        env=[("GREETING", 'hi "there"'), ("EMPTY", "")],
        argv=["fn.wasm", "--flag", "value"],
    )
    seen = json.loads(body_of(result))
    assert seen == {
        "env": ['GREETING=hi "there"', "EMPTY="],
        "args": ["fn.wasm", "--flag", "value"],
    }


def test_without_mounts_the_guest_sees_no_filesystem(run, c_guest) -> None:
    seen = json.loads(body_of(run(c_guest("filesystem"))))
    assert seen == {
        "etc_passwd": 0,
        "root_listing": 0,
        "data_read": 0,
        "data_write": 0,
        "data_symlink_errno": ERRNO_NOENT,  # no /data at all
    }


def test_a_read_only_mount_can_be_read_but_not_written(run, c_guest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.txt").write_text("from the host")
    seen = json.loads(body_of(run(c_guest("filesystem"), mounts=[Mount(data, "/data")])))
    assert seen["data_read"] == 1
    assert seen["data_write"] == 0
    assert seen["etc_passwd"] == 0
    assert not (data / "output.txt").exists()


def test_a_writable_mount_can_be_written(run, c_guest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    mounts = [Mount(data, "/data", writable=True)]
    seen = json.loads(body_of(run(c_guest("filesystem"), mounts=mounts)))
    assert seen["data_write"] == 1
    assert (data / "output.txt").read_text() == "written by the guest"


def test_a_guest_without_writable_mounts_writes_through_the_native_fd_write(
    engine: Engine, mechanics: str, tmp_path: Path, c_guest
) -> None:
    """Only a module that has no file to write to gets the native fd_write; one with a writable
    mount keeps wasmtime's (test_a_writable_mount_can_be_written proves its writes land)."""
    loader = ModuleLoader(engine, tmp_path / "cache")
    module = c_guest("filesystem")
    data = read_module_bytes(module)
    plain = Sandbox(engine, Limits())
    writable = Sandbox(engine, Limits(), mounts=[Mount(tmp_path, "/data", writable=True)])
    assert loader.load_bytes(module, data, sandbox=plain).native_writes is (mechanics == "native")
    assert loader.load_bytes(module, data, sandbox=writable).native_writes is False


# Gathered writes to stdout, each result checked: the guest traps (unreachable) on any
# surprise. fd 7 is not open (EBADF, 8); an iovec past the end of memory is EFAULT (21), and so
# is a result pointer past it; nothing of a refused write reaches stdout.
GATHERED_WRITES = f"""
(module
  {WASI_IMPORTS}
  (memory (export "memory") 1)
  (data (i32.const 100) "{{\\"status\\":200,")
  (data (i32.const 200) "\\"body\\":")
  (data (i32.const 300) "\\"abc\\"}}")
  (func $expect (param i32 i32) (if (i32.ne (local.get 0) (local.get 1)) (then unreachable)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 14))
    (i32.store (i32.const 8) (i32.const 200)) (i32.store (i32.const 12) (i32.const 7))
    (i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 6))
    (i32.store (i32.const 24) (i32.const 65530)) (i32.store (i32.const 28) (i32.const 100))
    (call $expect (call $fd_write (i32.const 7) (i32.const 0) (i32.const 3) (i32.const 40))
                  (i32.const 8))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 40))
                  (i32.const 21))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 3) (i32.const 65534))
                  (i32.const 21))
    (call $expect (call $fd_write (i32.const 1) (i32.const 0) (i32.const 3) (i32.const 40))
                  (i32.const 0))
    (call $expect (i32.load (i32.const 40)) (i32.const 27))))
"""


def test_gathered_writes_land_in_order_and_bad_ones_get_an_errno(
    run, project, mechanics: str
) -> None:
    if mechanics == "ctypes":
        pytest.skip("the ctypes path runs wasmtime's fd_write, which takes one buffer a call")
    result = run(project("gathered.wat", GATHERED_WRITES))
    assert body_of(result) == "abc"
    assert result.stdout == b'{"status":200,"body":"abc"}'


ERRNO_PERM, ERRNO_NOENT = 63, 44  # WASI's numbering


def test_a_writable_mount_refuses_symlinks_that_could_point_anywhere_on_the_host(
    run, c_guest, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    seen = json.loads(body_of(run(c_guest("filesystem"), mounts=[Mount(data, "/data", True)])))
    assert seen["data_write"] == 1
    assert seen["data_symlink_errno"] == ERRNO_PERM
    assert not (data / "link").is_symlink()


def test_a_writable_mount_with_symlinks_may_create_them(run, c_guest, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    mounts = [Mount(data, "/data", writable=True, symlinks=True)]
    seen = json.loads(body_of(run(c_guest("filesystem"), mounts=mounts)))
    assert seen["data_symlink_errno"] == 0
    assert os.readlink(data / "link") == "../../../../../../../../etc/passwd"


def test_guest_randomness_comes_from_the_os(run, c_guest, monkeypatch) -> None:
    from pyjinn.engine import randomness

    requested: list[int] = []

    def observed(length: int) -> bytes:
        requested.append(length)
        return bytes(range(1, length + 1))

    monkeypatch.setattr(randomness, "source", observed)
    assert body_of(run(c_guest("behave"), query(random="1"))) == bytes(range(1, 17)).hex()
    assert requested == [16]


def test_guest_randomness_differs_between_invocations(run, c_guest) -> None:
    values = {body_of(run(c_guest("behave"), query(random="1"))) for _ in range(5)}
    assert len(values) == 5
    assert all(len(value) == 32 and value != "0" * 32 for value in values)


def test_stderr_is_captured_separately_from_stdout(run, c_guest) -> None:
    result = run(c_guest("behave"), query(exit="7"))
    assert fault_of(result) is GuestFault.EXIT
    assert result.stderr == b"behave: starting\nbehave: exiting with 7\n"
    assert result.stdout == b""


def test_the_engine_keeps_working_after_every_kind_of_failure(run, project, c_guest) -> None:
    failures = [
        run(project("t1.wat", wat_trapping("(unreachable)"))),
        run(project("t2.wat", wat_trapping("(loop $l (br $l))")), timeout=0.1),
        run(c_guest("behave"), query(stdout_mb="20"), stdout_limit=MiB),
        run(c_guest("behave"), query(alloc_mb="100"), memory_limit=16 * MiB),
    ]
    assert all(result.error is not None for result in failures)
    assert body_of(run(c_guest("behave"))) == "runs=1"


def test_an_instantiation_the_kernel_refuses_for_now_is_tried_again(
    run, project, mechanics: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The kernel answers EBUSY when it cannot seal the memfd of a module's memory image while
    pages of it are briefly pinned (seen once under load with page migration running); that
    cannot be produced on demand, so the first run is made to end as wasmtime reports it."""
    target = "run" if mechanics == "ctypes" else "invoke"
    where = invoke_module._ctypes_run if mechanics == "ctypes" else invoke_module._native
    real = getattr(where, target)
    calls = []

    def refused_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            failed = list(real(*args, **kwargs))
            failed[0], failed[3] = (
                invoke_module.ENDED_START_ERROR,
                ("cannot add seals to the memfd"),
            )
            return tuple(failed)
        return real(*args, **kwargs)

    monkeypatch.setattr(where, target, refused_once)
    result = run(project("hello.wat", wat_writing(HELLO)))

    assert result.error is None
    assert len(calls) == 2
    assert "trying again" in caplog.text


def test_an_instantiation_that_keeps_failing_is_a_host_error_after_three_tries(
    run, project, mechanics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = "run" if mechanics == "ctypes" else "invoke"
    where = invoke_module._ctypes_run if mechanics == "ctypes" else invoke_module._native
    real = getattr(where, target)
    calls = []

    def refused(*args, **kwargs):
        calls.append(1)
        failed = list(real(*args, **kwargs))
        failed[0], failed[3] = invoke_module.ENDED_START_ERROR, "cannot add seals to the memfd"
        return tuple(failed)

    monkeypatch.setattr(where, target, refused)
    result = run(project("hello.wat", wat_writing(HELLO)))

    assert isinstance(result.error, HostError)
    assert "cannot add seals to the memfd" in result.error.detail
    assert len(calls) == 3
