"""Guest output capture (pyjinn/engine/output.py, and the native path's streams): every invocation
collects exactly what its own guest wrote, whatever the one before it did; no stream outlives its
invocation; a forked process opens only its own streams."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjinn.config.model import Limits
from pyjinn.engine import invoke as invoke_module
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Run, Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader, read_module_bytes
from pyjinn.errors import GuestError, GuestFault
from tests.helpers import HELLO, WASI_IMPORTS, wat_writing

KiB = 1024
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(engine: Engine, tmp_path: Path, mechanics: str) -> Callable[..., Run]:
    """``run(name, wat, **limits)``: one invocation of an inline WAT guest on this thread."""
    loader = ModuleLoader(engine, tmp_path / "cache")

    def run(name: str, wat: str, **limits: int | float) -> Run:
        path = tmp_path / name
        if not path.exists():
            path.write_text(wat)
        module = loader.load_bytes(path, read_module_bytes(path))
        return invoke(engine, module, Sandbox(engine, Limits(**limits)), b"{}")  # type: ignore[arg-type]

    return run


def writing_then(text_length: int, then: str, fd: int = 1) -> str:
    """A guest that writes ``text_length`` bytes of ``z`` to ``fd`` in one call, then ``then``."""
    return f"""
    (module
      {WASI_IMPORTS}
      (memory (export "memory") 2)
      (func (export "_start")
        (memory.fill (i32.const 1024) (i32.const 122) (i32.const {text_length}))
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const {text_length}))
        (drop (call $fd_write (i32.const {fd}) (i32.const 0) (i32.const 1) (i32.const 16)))
        {then}))
    """


FLOODING_STDOUT = """
(module
  {imports}
  (memory (export "memory") 2)
  (data (i32.const 0) "\\00\\04\\00\\00\\00\\00\\01\\00")  ;; iovec: 64 KiB at 1024
  (func (export "_start")
    (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65536))
    (loop $forever
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
      (br $forever))))
""".replace("{imports}", WASI_IMPORTS)


def fault_of(result: Run) -> GuestFault:
    assert isinstance(result.error, GuestError), result.error
    return result.error.fault


def test_each_invocation_collects_only_what_its_own_guest_wrote(run) -> None:
    long = run("long.wat", writing_then(40 * KiB, ""))
    assert long.error is None and long.stdout == b"z" * (40 * KiB)
    short = run("hello.wat", wat_writing(HELLO))
    assert short.error is None
    assert short.stdout == HELLO.encode()
    assert short.stderr == b""


def test_stderr_of_one_invocation_never_reaches_the_next(run) -> None:
    logged = run("log.wat", writing_then(10 * KiB, "", fd=2))
    assert logged.stderr == b"z" * (10 * KiB)
    quiet = run("hello.wat", wat_writing(HELLO))
    assert quiet.stderr == b"" and quiet.stdout == HELLO.encode()


def test_after_a_flood_stopped_at_its_cap_the_next_invocation_holds_only_its_own_bytes(
    run,
) -> None:
    flood = run("flood.wat", FLOODING_STDOUT, stdout_limit=64 * KiB, timeout=10)
    assert fault_of(flood) is GuestFault.OUTPUT_LIMIT
    assert "stopped" in flood.error.detail  # stopped at once, not at its 10 s timeout
    assert len(flood.stdout) == 64 * KiB
    after = run("hello.wat", wat_writing(HELLO), stdout_limit=64 * KiB)
    assert after.error is None
    assert after.stdout == HELLO.encode()


def test_after_a_trap_mid_output_the_next_invocation_holds_only_its_own_bytes(run) -> None:
    trapped = run("trap.wat", writing_then(5000, "(unreachable)"))
    assert fault_of(trapped) is GuestFault.TRAP
    assert trapped.stdout == b"z" * 5000
    after = run("hello.wat", wat_writing(HELLO))
    assert after.error is None and after.stdout == HELLO.encode()


def test_invocations_under_different_limits_each_get_their_own_cap(run) -> None:
    large = run("large.wat", writing_then(100 * KiB, ""), stdout_limit=1024 * KiB)
    assert large.error is None and len(large.stdout) == 100 * KiB
    small = run("large.wat", writing_then(100 * KiB, ""), stdout_limit=10 * KiB)
    assert fault_of(small) is GuestFault.OUTPUT_LIMIT
    assert small.stdout == b"z" * (10 * KiB)
    exact = run("hello.wat", wat_writing(HELLO), stdout_limit=len(HELLO))
    assert exact.error is None and exact.stdout == HELLO.encode()


def test_guests_on_several_threads_each_collect_their_own_output(run) -> None:
    texts = [f'{{"status":200,"body":"{index} {"x" * (index * 700)}"}}' for index in range(4)]
    for index, text in enumerate(texts):
        run(f"thread{index}.wat", wat_writing(text))  # compiled before the threads start
    wrong: list[tuple[int, bytes]] = []

    def invoke_many(index: int) -> None:
        for _ in range(40):
            result = run(f"thread{index}.wat", "")
            if result.error is not None or result.stdout != texts[index].encode():
                wrong.append((index, result.stdout[:80]))

    threads = [threading.Thread(target=invoke_many, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def output_memfds() -> int:
    """How many of this process's descriptors are guest output streams."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the directory's own descriptor, closed by now
        count += target.startswith("/memfd:pyjinn-guest-output")
    return count


def test_no_output_stream_outlives_its_invocation(run) -> None:
    run("hello.wat", wat_writing(HELLO))
    before = output_memfds()
    for index in range(100):
        if index % 10 == 3:
            run("trap.wat", writing_then(5000, "(unreachable)"))
        elif index % 10 == 7:
            run("flood.wat", FLOODING_STDOUT, stdout_limit=64 * KiB, timeout=10)
        else:
            run("hello.wat", wat_writing(HELLO))
    assert output_memfds() == before == 0


FORKED_CHILD = textwrap.dedent(
    """
    import os, sys, tempfile
    from pathlib import Path
    from pyjinn.config.model import Limits
    from pyjinn.engine.engine import Engine
    from pyjinn.engine.invoke import Sandbox, invoke
    from pyjinn.engine.modules import ModuleLoader, read_module_bytes

    module, cache = Path(sys.argv[1]), Path(sys.argv[2])
    ready_in, ready_out = os.pipe()
    child = os.fork()
    if child == 0:  # as a worker forked by the supervisor: code imported, no engine yet
        os.close(ready_out)
        os.read(ready_in, 1)
        engine = Engine(max_instances=4)
        engine.start()
        loaded = ModuleLoader(engine, cache).load_bytes(module, read_module_bytes(module))
        runs = [invoke(engine, loaded, Sandbox(engine, Limits()), b"{}") for _ in range(3)]
        engine.close()
        os._exit(0 if all(run.stdout == b"from the child" for run in runs) else 3)
    os.close(ready_in)
    # The parent's own files take the descriptor numbers the child's streams will take.
    files = [tempfile.TemporaryFile() for _ in range(64)]
    os.write(ready_out, b"x")
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status), sum(os.fstat(f.fileno()).st_size for f in files))
    """
)


@pytest.mark.parametrize("native", [True, False], ids=["native", "ctypes"])
def test_a_forked_process_captures_its_own_output_and_never_opens_its_parents_files(
    tmp_path: Path, native: bool
) -> None:
    if native and not invoke_module.NATIVE:
        pytest.skip("the _fastinvoke extension is not built")
    module = tmp_path / "child.wat"
    module.write_text(wat_writing("from the child"))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not native:
        environment["PYJINN_NO_NATIVE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", FORKED_CHILD, str(module), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The child's exit status (0: it collected its own output), then the bytes written into
    # the parent's files (none).
    assert done.stdout.split() == ["0", "0"], done.stderr
