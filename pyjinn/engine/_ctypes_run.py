"""The invocation mechanics through ctypes: the fallback when ``_fastinvoke`` is not built.

The same sequence as the native path (store, limits, WASI, captured output, instantiate,
``_start``, teardown), reporting the same raw facts; ``invoke.py`` decides what they mean. The
clock log it reports is empty: without the extension the clocks are served from Python and log
on the invocation itself (``pyjinn.engine.clocks``).
"""

from __future__ import annotations

import ctypes
import struct
import threading
import time
from ctypes import byref, c_char_p, c_int, c_int32, c_uint64, c_void_p, memmove
from typing import TYPE_CHECKING, Any

from pyjinn.engine import _capi
from pyjinn.engine._capi import Frame
from pyjinn.engine.output import CapturedStream, written_past
from pyjinn.engine.snapshot import MemoryImage

if TYPE_CHECKING:
    from pyjinn.engine.invoke import Sandbox

RawRun = tuple[Any, ...]

_RETURNED, _EXIT, _TRAP, _ERROR, _START_TRAP, _START_ERROR, _SETUP_ERROR = range(7)
_STOPPED_NONE, _STOPPED_TIMEOUT, _STOPPED_STDOUT, _STOPPED_STDERR = range(4)
_STDERR_GRACE = 1024 * 1024  # as pyjinn.engine.invoke.STDERR_GRACE
_SNAPSHOT_NEVER, _SNAPSHOT_ON_FAILURE, _SNAPSHOT_ALWAYS = range(3)


class Prepared:
    """A sandbox's argv and environment as C arrays, built once per function."""

    __slots__ = ("argc", "argv", "envc", "names", "values")

    def __init__(self, argv: list[bytes], env: list[tuple[bytes, bytes]]) -> None:
        self.argc = len(argv)
        self.argv = (c_char_p * len(argv))(*argv)
        self.envc = len(env)
        self.names = (c_char_p * len(env))(*(name for name, _ in env))
        self.values = (c_char_p * len(env))(*(value for _, value in env))


def prepare(argv: list[bytes], env: list[tuple[bytes, bytes]]) -> Prepared:
    return Prepared(argv, env)


class _Scratch:
    """Per-thread C structs reused across invocations."""

    __slots__ = ("exit_code", "fuel", "instance", "item", "trap")

    def __init__(self) -> None:
        self.instance = _capi.Instance()
        self.item = _capi.Extern()
        self.trap = c_void_p()
        self.exit_code = c_int()
        self.fuel = c_uint64()


_scratch = threading.local()


class _Watch:
    """The limits checked at every epoch tick of the invocation running on this thread."""

    __slots__ = ("deadline_cell", "deadline_ns", "stderr", "stdout", "stopped")

    def __init__(
        self,
        deadline_ns: int,
        stdout: CapturedStream,
        stderr: CapturedStream,
        deadline_cell: ctypes.c_int64 | None = None,
    ) -> None:
        self.deadline_ns = deadline_ns
        # Where the deadline lives when host calls may move it (as the native path's cell).
        self.deadline_cell = deadline_cell
        self.stdout = stdout
        self.stderr = stderr
        self.stopped = _STOPPED_NONE

    def deadline(self) -> int:
        cell = self.deadline_cell
        return self.deadline_ns if cell is None else cell.value


_watching = threading.local()


def _check_limits(_context: int, _data: int, delta: Any, update_kind: Any) -> int:
    # A store runs on one thread, so the watch of the invocation being ticked is this thread's.
    watch: _Watch = _watching.value
    if time.monotonic_ns() >= watch.deadline():
        watch.stopped = _STOPPED_TIMEOUT
    elif written_past(watch.stdout, watch.stdout.limit):
        watch.stopped = _STOPPED_STDOUT
    elif written_past(watch.stderr, watch.stderr.limit + _STDERR_GRACE):
        watch.stopped = _STOPPED_STDERR
    if watch.stopped != _STOPPED_NONE:
        error: int = _capi.error_new(b"pyjinn stopped the guest at a limit")
        return error
    delta[0] = 1
    update_kind[0] = _capi.UPDATE_DEADLINE_CONTINUE
    return 0


_on_epoch_tick = _capi.EPOCH_CALLBACK(_check_limits)


class _SetupFailed(Exception):
    pass


def run(
    engine: int,
    pre: int,
    stdin: bytes,
    sandbox: Sandbox,
    deadline_ns: int,
    snapshot: int,
    *,
    entry: tuple[bytes, tuple[int, ...], int] | None = None,
    image: tuple[int, bytes, bytes] | None = None,
    preopens: list[tuple[bytes, bytes, bool]] | None = None,
    deadline_cell: ctypes.c_int64 | None = None,
) -> RawRun:
    """Run one invocation; the same tuple as ``_fastinvoke.invoke`` returns (``entry``,
    ``image``, ``preopens`` and ``deadline_cell`` as it takes them)."""
    scratch: _Scratch | None = getattr(_scratch, "value", None)
    if scratch is None:
        scratch = _scratch.value = _Scratch()
    limits = sandbox.limits
    prepared = sandbox.prepared or prepare(sandbox.argv, sandbox.env)
    stdout = CapturedStream(limits.stdout_limit)
    stderr = CapturedStream(limits.stderr_limit)
    watch = _watching.value = _Watch(deadline_ns, stdout, stderr, deadline_cell)
    ended, exit_code, code, message = _RETURNED, 0, -1, ""
    fuel_left, memory_bytes = sandbox.fuel, 0
    backtrace: tuple[tuple[Frame, ...], int] | None = None
    memory: tuple[int, bytes, bytes] | None = None
    started = configured = instantiated = finished = time.perf_counter_ns()
    store = _capi.store_new(engine, None, None)
    try:
        store_context = _capi.store_context(store)
        _capi.store_limiter(store, limits.memory_limit, -1, 1, -1, -1)
        _set_up_wasi(store_context, sandbox, prepared, stdin, stdout, stderr, preopens)
        # Check the limits at the next tick, and at every tick after that.
        _capi.store_epoch_deadline_callback(store, _on_epoch_tick, None, None)
        _capi.context_set_epoch_deadline(store_context, 1)
        _check(_capi.context_set_fuel(store_context, sandbox.fuel), "set fuel")
        configured = time.perf_counter_ns()
        trap = scratch.trap
        trap.value = None
        failure = _capi.instance_pre_instantiate(
            pre, store_context, byref(scratch.instance), byref(trap)
        )
        instantiated = finished = time.perf_counter_ns()
        if trap.value:
            ended = _START_TRAP
            backtrace = _capi.trap_frames(trap.value)
            code, message = _trap(trap.value)
            if failure:
                _capi.error_delete(failure)
        elif failure:
            backtrace = _capi.error_frames(failure)
            ended, message = _START_ERROR, _capi.take_error_message(failure)
        else:
            problem = _restore_image(store_context, scratch, image) if image else None
            item = scratch.item
            name = entry[0] if entry else b"_start"
            if problem is not None:
                ended, message = _START_ERROR, problem
            elif (
                not _capi.instance_export_get(
                    store_context, byref(scratch.instance), name, len(name), byref(item)
                )
                or int(item.kind) != _capi.EXTERN_FUNC
            ):
                ended, message = _START_ERROR, f"the instance has no {name.decode()} function"
            elif entry:
                failure, status = _call_entry(store_context, item, entry, trap)
                if status:
                    ended, exit_code = _EXIT, status
            else:
                failure = _capi.func_call(
                    store_context, byref(item, _capi.EXTERN_ITEM_OFFSET), None, 0, None, 0,
                    byref(trap),
                )  # fmt: skip
            finished = time.perf_counter_ns()
            if ended == _START_ERROR:
                pass
            elif trap.value:
                ended = _TRAP
                backtrace = _capi.trap_frames(trap.value)
                code, message = _trap(trap.value)
                if failure:
                    _capi.error_delete(failure)
            elif failure:
                if _capi.error_exit_status(failure, byref(scratch.exit_code)):
                    exit_code = scratch.exit_code.value
                    ended = _RETURNED if exit_code == 0 else _EXIT
                    if exit_code != 0:
                        backtrace = _capi.error_frames(failure)
                    _capi.error_delete(failure)
                else:
                    backtrace = _capi.error_frames(failure)
                    ended, message = _ERROR, _capi.take_error_message(failure)
            failed = ended != _RETURNED or watch.stopped != _STOPPED_NONE
            take = snapshot == _SNAPSHOT_ALWAYS or (snapshot == _SNAPSHOT_ON_FAILURE and failed)
            memory_bytes, memory = _memory(store_context, scratch, take)
        if not _capi.context_get_fuel(store_context, byref(scratch.fuel)):
            fuel_left = scratch.fuel.value
    except _SetupFailed as failure_reason:
        ended, message = _SETUP_ERROR, str(failure_reason)
    finally:
        _capi.store_delete(store)
        _watching.value = None
    out, out_exceeded = stdout.read()
    err, err_exceeded = stderr.read()
    stdout.close()
    stderr.close()
    ended_at = time.perf_counter_ns()
    instantiated = max(instantiated, configured)
    finished = max(finished, instantiated)
    phases = (configured - started, instantiated - configured, finished - instantiated,
              ended_at - finished)  # fmt: skip
    return (ended, exit_code, code, message, fuel_left, memory_bytes,
            out, out_exceeded, err, err_exceeded, phases, watch.stopped,
            b"", backtrace, memory)  # fmt: skip


def _set_up_wasi(
    store_context: int,
    sandbox: Sandbox,
    prepared: Prepared,
    stdin: bytes,
    stdout: CapturedStream,
    stderr: CapturedStream,
    preopens: list[tuple[bytes, bytes, bool]] | None,
) -> None:
    wasi = _capi.wasi_config_new()
    try:
        if not _capi.wasi_config_set_argv(wasi, prepared.argc, prepared.argv) or (
            prepared.envc
            and not _capi.wasi_config_set_env(wasi, prepared.envc, prepared.names, prepared.values)
        ):
            raise _SetupFailed("cannot set the guest's arguments or environment")
        for host_dir, guest_dir, writable in sandbox.preopens if preopens is None else preopens:
            if not _capi.wasi_config_preopen_dir(wasi, host_dir, guest_dir, writable):
                raise _SetupFailed(f"cannot preopen {host_dir.decode()} as {guest_dir.decode()}")
        vector = _capi.ByteVec()
        _capi.byte_vec_new(byref(vector), len(stdin), stdin)
        _capi.wasi_config_set_stdin_bytes(wasi, byref(vector))  # takes the vector's bytes
        if not (
            _capi.wasi_config_set_stdout_file(wasi, stdout.path)
            and _capi.wasi_config_set_stderr_file(wasi, stderr.path)
        ):
            raise _SetupFailed("cannot open the guest's output streams")
    except BaseException:
        _capi.wasi_config_delete(wasi)
        raise
    stdout.seal()
    stderr.seal()
    _check(_capi.context_set_wasi(store_context, wasi), "set up WASI")  # takes the config


def _restore_image(
    store_context: int, scratch: _Scratch, image: tuple[int, bytes, bytes]
) -> str | None:
    """Write a pre-initialised module's memory image (pyjinn.engine.preinit) into the fresh
    instance; a message when it cannot."""
    pages, data, runs = image
    item = scratch.item
    if (
        not _capi.instance_export_get(
            store_context, byref(scratch.instance), b"memory", 6, byref(item)
        )
        or int(item.kind) != _capi.EXTERN_MEMORY
    ):
        return "the module exports no memory named 'memory' to restore its image into"
    memory = byref(item, _capi.EXTERN_ITEM_OFFSET)
    current = _capi.memory_data_size(store_context, memory) // 65536
    if pages > current:
        previous = c_uint64()
        failure = _capi.memory_grow(store_context, memory, pages - current, byref(previous))
        if failure:
            reason = _capi.take_error_message(failure)
            return f"cannot grow memory to the image's {pages} pages (memory limit): {reason}"
    base = _capi.memory_data(store_context, memory)
    size = _capi.memory_data_size(store_context, memory)
    position = 0
    for offset, length in struct.iter_unpack("=II", runs):
        if offset + length > size or position + length > len(data):
            return "the memory image does not fit the instance's memory"
        memmove(base + offset, data[position : position + length], length)
        position += length
    return None


def _call_entry(
    store_context: int, item: Any, entry: tuple[bytes, tuple[int, ...], int], trap: c_void_p
) -> tuple[int | None, int]:
    """Call the entry export with its i32 arguments; (the error, its i32 result or 0)."""
    _name, args, results = entry
    slots = (c_int32 * (4 * max(len(args), results, 1)))()
    for index, value in enumerate(args):
        slots[4 * index] = value
    failure = _capi.func_call_unchecked(
        store_context, byref(item, _capi.EXTERN_ITEM_OFFSET), slots, max(len(args), results),
        byref(trap),
    )  # fmt: skip
    status = slots[0] if results and not failure and not trap.value else 0
    return failure, status


def _check(failure: int | None, what: str) -> None:
    if failure:
        raise _SetupFailed(f"cannot {what}: {_capi.take_error_message(failure)}")


def _trap(trap: int) -> tuple[int, str]:
    code, message = _capi.take_trap(trap)
    return (code if code is not None else -1), message


def _memory(
    store_context: int, scratch: _Scratch, copy: bool
) -> tuple[int, tuple[int, bytes, bytes] | None]:
    """The size of the guest's memory, and a copy of it if ``copy``."""
    item = scratch.item
    if (
        _capi.instance_export_get(store_context, byref(scratch.instance), b"memory", 6, byref(item))
        and int(item.kind) == _capi.EXTERN_MEMORY
    ):
        handle = byref(item, _capi.EXTERN_ITEM_OFFSET)
        size: int = _capi.memory_data_size(store_context, handle)
        if not copy:
            return size, None
        image = MemoryImage.of(ctypes.string_at(_capi.memory_data(store_context, handle), size))
        return size, (image.size, image.data, image.pages)
    return 0, None
