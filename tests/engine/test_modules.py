"""Modules compiled once, cached on disk as native code, linked once, and refused when unfit."""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from pyjinn.config.model import Limits
from pyjinn.engine.cache import KEY_FILE
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import (
    CompiledModule,
    ModuleLoader,
    cache_dir_for,
    wasmtime_version,
)
from pyjinn.errors import ModuleError
from tests.helpers import HELLO, wat_writing

PAGE = 65536


@pytest.fixture
def compilations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts Cranelift compilations (``wasmtime.Module(...)``); loading from cache is not one."""
    calls: list[int] = []
    compile_module = wasmtime.Module.__init__

    def counting(self: wasmtime.Module, engine: wasmtime.Engine, wasm: str | bytes) -> None:
        calls.append(1)
        compile_module(self, engine, wasm)

    monkeypatch.setattr(wasmtime.Module, "__init__", counting)
    return calls


@pytest.fixture
def wat_file(tmp_path: Path) -> Callable[..., Path]:
    """Write WAT text to ``tmp_path/name``; a ``.wasm`` name gets the assembled binary."""

    def write(text: str, name: str = "fn.wat") -> Path:
        path = tmp_path / name
        if path.suffix == ".wasm":
            path.write_bytes(bytes(wasmtime.wat2wasm(text)))
        else:
            path.write_text(text)
        return path

    return write


def run_once(engine: Engine, module: CompiledModule) -> bytes:
    result = invoke(engine, module, Sandbox(engine, Limits(timeout=5)), b"")
    assert result.error is None, result.error
    return result.stdout


def load_error(loader: ModuleLoader, path: Path) -> str:
    with pytest.raises(ModuleError) as raised:
        loader.load(path)
    assert raised.value.path == str(path)
    assert str(raised.value) == f"{path}: {raised.value.reason}"
    return raised.value.reason


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Loading


def test_a_wat_file_loads_and_runs(engine: Engine, wat_file: Callable[..., Path]) -> None:
    loader = ModuleLoader(engine, None)
    module = loader.load(wat_file(wat_writing(HELLO), "hello.wat"))
    assert module.path.name == "hello.wat"
    assert len(module.digest) == 64
    assert module.from_cache is False
    assert module.imports == (
        ("wasi_snapshot_preview1", "fd_write"),
        ("wasi_snapshot_preview1", "proc_exit"),
    )
    assert run_once(engine, module) == HELLO.encode()


def test_a_wasm_binary_loads_and_runs(engine: Engine, wat_file: Callable[..., Path]) -> None:
    path = wat_file(wat_writing(HELLO), "hello.wasm")
    assert path.read_bytes().startswith(b"\0asm")
    module = ModuleLoader(engine, None).load(path)
    assert run_once(engine, module) == HELLO.encode()


def test_the_same_content_under_two_paths_is_compiled_once(
    engine: Engine, wat_file: Callable[..., Path], compilations: list[int]
) -> None:
    loader = ModuleLoader(engine, None)
    first = loader.load(wat_file(wat_writing(HELLO), "one.wat"))
    second = loader.load(wat_file(wat_writing(HELLO), "two.wat"))
    binary = loader.load(wat_file(wat_writing(HELLO), "three.wasm"))
    assert first is second is binary
    assert len(compilations) == 1


def test_different_content_gives_different_modules(
    engine: Engine, wat_file: Callable[..., Path], compilations: list[int]
) -> None:
    loader = ModuleLoader(engine, None)
    hello = loader.load(wat_file(wat_writing(HELLO), "hello.wat"))
    other = loader.load(wat_file(wat_writing('{"body":"other"}'), "other.wat"))
    assert hello is not other
    assert hello.digest != other.digest
    assert len(compilations) == 2
    assert run_once(engine, other) == b'{"body":"other"}'


def test_loading_a_file_again_after_it_changed_gives_the_new_module(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    loader = ModuleLoader(engine, None)
    before = loader.load(wat_file(wat_writing('{"body":"v1"}')))
    after = loader.load(wat_file(wat_writing('{"body":"v2"}')))
    assert before is not after
    assert run_once(engine, after) == b'{"body":"v2"}'


@pytest.mark.parametrize(("pages", "expected"), [(0, 0), (1, PAGE), (3, 3 * PAGE)])
def test_memory_minimum_is_the_exported_memorys_initial_size(
    engine: Engine, wat_file: Callable[..., Path], pages: int, expected: int
) -> None:
    module = ModuleLoader(engine, None).load(
        wat_file(f'(module (memory (export "memory") {pages} 10) (func (export "_start")))')
    )
    assert module.memory_minimum == expected


def test_a_module_without_memory_has_no_memory_minimum(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    module = ModuleLoader(engine, None).load(wat_file('(module (func (export "_start")))'))
    assert module.memory_minimum == 0


def test_concurrent_loads_of_a_new_module_compile_it_once(
    engine: Engine,
    wat_file: Callable[..., Path],
    compilations: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loader = ModuleLoader(engine, None)
    path = wat_file(wat_writing(HELLO))
    compile_and_link = ModuleLoader._compile_and_link

    def slow(self: ModuleLoader, *args: object) -> CompiledModule:
        time.sleep(0.05)  # hold the compile long enough for every thread to arrive
        return compile_and_link(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ModuleLoader, "_compile_and_link", slow)
    start = threading.Barrier(8)
    results: list[CompiledModule] = []
    errors: list[BaseException] = []

    def load() -> None:
        start.wait()
        try:
            results.append(loader.load(path))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert errors == []
    assert len(results) == 8
    assert all(module is results[0] for module in results)
    assert len(compilations) == 1


# The compile cache


def test_the_cache_dir_is_named_after_the_wasmtime_version(tmp_path: Path) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", wasmtime_version())
    assert cache_dir_for(tmp_path) == tmp_path / "cache" / f"wasmtime-{wasmtime_version()}"


def test_compiled_code_is_cached_privately_under_the_module_digest(
    engine: Engine, wat_file: Callable[..., Path], tmp_path: Path
) -> None:
    cache = tmp_path / "data" / "cache" / "wasmtime-x"
    module = ModuleLoader(engine, cache).load(wat_file(wat_writing(HELLO)))
    assert module.from_cache is False
    entry = cache / f"{module.digest}.cwasm"
    # No temporary left behind; the installation's integrity key beside the entries.
    assert sorted(path.name for path in cache.iterdir()) == sorted([entry.name, KEY_FILE])
    assert entry.stat().st_size > 0
    assert mode_of(entry) == 0o600
    assert mode_of(cache / KEY_FILE) == 0o600
    assert len((cache / KEY_FILE).read_bytes()) == 32
    assert mode_of(cache) == 0o700


def test_a_second_loader_loads_from_the_cache_without_compiling(
    engine: Engine, wat_file: Callable[..., Path], tmp_path: Path, compilations: list[int]
) -> None:
    path = wat_file(wat_writing(HELLO))
    ModuleLoader(engine, tmp_path / "cache").load(path)
    assert len(compilations) == 1
    module = ModuleLoader(engine, tmp_path / "cache").load(path)
    assert module.from_cache is True
    assert len(compilations) == 1
    assert module.memory_minimum == PAGE
    assert run_once(engine, module) == HELLO.encode()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_cache_entry_is_ignored_and_recompiled(
    engine: Engine,
    wat_file: Callable[..., Path],
    tmp_path: Path,
    compilations: list[int],
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    path = wat_file(wat_writing(HELLO))
    first = ModuleLoader(engine, tmp_path / "cache").load(path)
    entry = tmp_path / "cache" / f"{first.digest}.cwasm"
    good = entry.read_bytes()
    entry.write_bytes(
        {"garbage": b"not native code" * 100, "truncated": good[: len(good) // 2], "empty": b""}[
            damage
        ]
    )
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        module = ModuleLoader(engine, tmp_path / "cache").load(path)
    assert module.from_cache is False
    assert len(compilations) == 2
    assert run_once(engine, module) == HELLO.encode()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Ignoring unusable compile cache entry {entry} (")
    assert warnings[0].endswith("; recompiling.")
    # The entry was rewritten, so the next start is served from the cache again.
    assert ModuleLoader(engine, tmp_path / "cache").load(path).from_cache is True


# Attacks on the cache: each ran foreign or broken native code, or killed the process mapping it.
# They run in a child process so that a crash fails the test instead of ending the test run.

_ATTACK = """
import sys
from pathlib import Path
from pyjinn.config.model import Limits
from pyjinn.engine.cache import KEY_FILE
from pyjinn.engine.engine import Engine
from pyjinn.engine.invoke import Sandbox, invoke
from pyjinn.engine.modules import ModuleLoader
from tests.engine.test_modules import damage_cache_entry

cache, module_path, attack = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
engine = Engine(max_instances=2)
engine.start()
loader = ModuleLoader(engine, cache)
if attack == "truncate-while-mapped":
    module = loader.load(module_path)
    print("from_cache", module.from_cache, flush=True)
    damage_cache_entry(cache / f"{module.digest}.cwasm", "truncate")
else:
    module = loader.load(module_path)
    print("from_cache", module.from_cache, flush=True)
run = invoke(engine, module, Sandbox(engine, Limits(timeout=5)), b"")
print("output", run.stdout.decode(), "error", run.error, flush=True)
engine.close()
"""


def _text_section(elf: bytes) -> tuple[int, int]:
    """Offset and size of the ``.text`` section of an ELF64 file (a compiled artifact)."""
    (shoff,) = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    names_offset = struct.unpack_from("<Q", elf, shoff + shstrndx * shentsize + 0x18)[0]
    for index in range(shnum):
        header = shoff + index * shentsize
        (name,) = struct.unpack_from("<I", elf, header)
        offset, size = struct.unpack_from("<QQ", elf, header + 0x18)
        if elf[names_offset + name :].startswith(b".text\0"):
            return offset, size
    raise AssertionError("no .text section")


def damage_cache_entry(entry: Path, how: str) -> None:
    """Damage a cache entry the way an attacker or a failing disk would."""
    data = bytearray(entry.read_bytes())
    if how == "truncate":
        with open(entry, "r+b") as file:  # in place: a mapping of this file sees it shrink
            file.truncate(len(data) // 3)
        return
    assert how == "overwrite-code"
    start = data.index(b"\x7fELF")  # the artifact, after pyjinn's header if there is one
    offset, size = _text_section(bytes(data[start:]))
    data[start + offset : start + offset + size] = b"\x0f\x0b" * (size // 2) + b"\xcc" * (size % 2)
    with open(entry, "r+b") as file:  # same inode, as an in-place overwrite would be
        file.write(data)


def _attack(cache: Path, module_path: Path, attack: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _ATTACK, str(cache), str(module_path), attack],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent.parent)},
    )


@pytest.mark.slow
def test_a_cache_entry_truncated_while_in_use_cannot_crash_the_process(
    engine: Engine, wat_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = wat_file(wat_writing(HELLO))
    ModuleLoader(engine, tmp_path / "cache").load(path)  # writes the entry
    child = _attack(tmp_path / "cache", path, "truncate-while-mapped")
    assert child.returncode == 0, child.stderr
    assert "from_cache True" in child.stdout
    assert f"output {HELLO} error None" in child.stdout


@pytest.mark.slow
def test_a_cache_entry_with_overwritten_code_is_recompiled_not_run(
    engine: Engine, wat_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = wat_file(wat_writing(HELLO))
    first = ModuleLoader(engine, tmp_path / "cache").load(path)
    damage_cache_entry(tmp_path / "cache" / f"{first.digest}.cwasm", "overwrite-code")
    child = _attack(tmp_path / "cache", path, "load")
    assert child.returncode == 0, child.stderr
    assert "from_cache False" in child.stdout
    assert f"output {HELLO} error None" in child.stdout
    assert "Ignoring unusable compile cache entry" in child.stderr
    # Rewritten: the next load is served from the cache, and runs.
    assert ModuleLoader(engine, tmp_path / "cache").load(path).from_cache is True


def test_another_modules_code_copied_under_a_digest_is_not_run(
    engine: Engine,
    wat_file: Callable[..., Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = tmp_path / "cache"
    trusted = wat_file(wat_writing(HELLO), "trusted.wat")
    other = wat_file(wat_writing('{"status":200,"body":"not the trusted code"}'), "other.wat")
    loader = ModuleLoader(engine, cache)
    trusted_digest, other_digest = loader.load(trusted).digest, loader.load(other).digest
    (cache / f"{trusted_digest}.cwasm").write_bytes((cache / f"{other_digest}.cwasm").read_bytes())
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        module = ModuleLoader(engine, cache).load(trusted)
    assert module.from_cache is False
    assert run_once(engine, module) == HELLO.encode()
    assert any("integrity tag does not match" in r.getMessage() for r in caplog.records)


def test_an_entry_written_without_the_installation_key_is_not_trusted(
    engine: Engine, wat_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = wat_file(wat_writing(HELLO))
    module = ModuleLoader(engine, tmp_path / "cache").load(path)
    # A bare artifact, as wasmtime serializes it: valid native code, but not vouched for.
    (tmp_path / "cache" / f"{module.digest}.cwasm").write_bytes(bytes(module.module.serialize()))
    assert ModuleLoader(engine, tmp_path / "cache").load(path).from_cache is False
    (tmp_path / "cache" / KEY_FILE).write_bytes(os.urandom(32))  # another installation's key
    assert ModuleLoader(engine, tmp_path / "cache").load(path).from_cache is False


@pytest.mark.parametrize("problem", ["group-readable", "short"])
def test_a_cache_whose_key_is_not_private_or_malformed_is_not_used(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture, problem: str
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    key = cache / KEY_FILE
    key.write_bytes(os.urandom(32) if problem == "group-readable" else b"short")
    key.chmod(0o640 if problem == "group-readable" else 0o600)
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        assert ModuleLoader(engine, cache).cache_dir is None
    assert any(
        r.getMessage().startswith(f"Compile cache {cache} is not used") for r in caplog.records
    )


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720])
def test_a_cache_dir_writable_by_others_is_not_used(
    engine: Engine,
    wat_file: Callable[..., Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    mode: int,
) -> None:
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    cache.chmod(mode)
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        loader = ModuleLoader(engine, cache)
    assert loader.cache_dir is None
    module = loader.load(wat_file(wat_writing(HELLO)))
    assert module.from_cache is False
    assert list(cache.iterdir()) == []  # nothing written where others could swap it
    assert run_once(engine, module) == HELLO.encode()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"Compile cache {cache} is writable by other users")
    assert "executed as native code" in warning


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_cache_dir_owned_by_another_user_is_not_used(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "foreign-cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        loader = ModuleLoader(engine, cache)
    assert loader.cache_dir is None
    assert any("owned by another user" in r.getMessage() for r in caplog.records)


def test_a_private_existing_cache_dir_is_used(engine: Engine, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o755)
    cache.chmod(0o755)  # readable by others is fine; only writing is dangerous
    assert ModuleLoader(engine, cache).cache_dir == cache


def test_a_cache_dir_that_cannot_be_created_means_compiling_in_memory(
    engine: Engine,
    wat_file: Callable[..., Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="pyjinn.engine"):
        loader = ModuleLoader(engine, blocker / "cache")
    assert loader.cache_dir is None
    assert loader.load(wat_file(wat_writing(HELLO))).from_cache is False
    assert any(
        r.getMessage().startswith(f"Compile cache {blocker / 'cache'} is unavailable")
        for r in caplog.records
    )


# Modules that are refused


def test_a_missing_file_is_a_module_error(engine: Engine, tmp_path: Path) -> None:
    reason = load_error(ModuleLoader(engine, None), tmp_path / "missing.wasm")
    assert reason == "module file not found"


def test_garbage_bytes_in_a_wasm_file_are_a_module_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "garbage.wasm"
    path.write_bytes(b"\x7fELF this is not WebAssembly")
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason == "not a WebAssembly binary (no \\0asm header) and not a .wat file"


def test_wat_text_in_a_wasm_file_is_a_module_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "text.wasm"
    path.write_text('(module (func (export "_start")))')
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("not a WebAssembly binary")


def test_a_wasm_header_followed_by_garbage_is_a_module_error(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "broken.wasm"
    path.write_bytes(b"\0asm\x01\x00\x00\x00\xff\xff\xff garbage")
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("not a valid WebAssembly module: ")


def test_invalid_wat_text_is_a_module_error(engine: Engine, wat_file: Callable[..., Path]) -> None:
    path = wat_file('(module (func (export "_start") (i32.bogus)))')
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("invalid WebAssembly text: ")
    assert "\n" not in reason


def test_a_wat_file_that_is_not_utf8_is_a_module_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.wat"
    path.write_bytes(b"(module) ;; caf\xe9")
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("invalid WebAssembly text: ")


def test_a_component_binary_is_a_module_error(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "component.wasm"
    path.write_bytes(b"\0asm\x0d\x00\x01\x00")
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason == (
        "is a WebAssembly component or an unknown binary version; pyjinn runs WASI preview1 "
        "core modules"
    )


def test_a_module_importing_from_outside_wasi_is_a_module_error(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    path = wat_file('(module (import "env" "foo" (func)) (func (export "_start")))')
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason == (
        "imports 'env.foo', which pyjinn does not provide (a module may import "
        "wasi_snapshot_preview1, and the pyjinn and gojinn host functions of ABI v1)"
    )


def test_a_reactor_module_without_start_is_a_module_error(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    path = wat_file('(module (memory (export "memory") 1) (func (export "_initialize")))')
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("exports no '_start' function; pyjinn runs WASI command modules")


def test_a_start_that_is_not_a_function_is_a_module_error(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    path = wat_file('(module (global (export "_start") i32 (i32.const 0)))')
    assert load_error(ModuleLoader(engine, None), path).startswith("exports no '_start' function")


def test_an_unknown_wasi_function_is_a_link_error(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    path = wat_file(
        '(module (import "wasi_snapshot_preview1" "not_a_function" (func))'
        ' (func (export "_start")))'
    )
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("cannot be linked: ")
    assert "not_a_function" in reason


def test_a_wasi_function_with_the_wrong_signature_is_a_link_error(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    path = wat_file(
        '(module (import "wasi_snapshot_preview1" "fd_write" (func (param i64)))'
        ' (func (export "_start")))'
    )
    reason = load_error(ModuleLoader(engine, None), path)
    assert reason.startswith("cannot be linked: ")
    assert "fd_write" in reason


def test_a_refused_module_is_not_remembered_as_loaded(
    engine: Engine, wat_file: Callable[..., Path]
) -> None:
    loader = ModuleLoader(engine, None)
    path = wat_file('(module (import "env" "foo" (func)) (func (export "_start")))')
    for _ in range(2):
        assert load_error(loader, path).startswith("imports 'env.foo'")
