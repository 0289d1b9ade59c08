"""The one door into wasm: run a module once in a fresh, limited sandbox and say what happened.

``invoke`` is the only function in pyjinn that executes guest code. It builds a new store with
its limits (memory, fuel, epoch deadline), a WASI context that sees exactly what the function was
granted, instantiates the linked module, calls ``_start`` and tears everything down. Every way
the guest can fail is mapped here, in one place, to a ``GuestError`` with its fault; a failure of
pyjinn itself becomes a ``HostError``. Guest failures are returned, not raised, because their
stderr matters as much as the error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from ctypes import byref, c_char_p, c_int, c_uint64, c_void_p
from dataclasses import dataclass

from pyjinn.capabilities.base import FunctionHost, HostCall
from pyjinn.config.model import Limits, Mount
from pyjinn.engine import _capi, context
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import CompiledModule
from pyjinn.engine.output import CapturedStream
from pyjinn.errors import GuestError, GuestFault, HostError, InvocationError

log = logging.getLogger("pyjinn.engine")

UNLIMITED_FUEL = (1 << 63) - 1
_TRAP_INTERRUPT = 10
_TRAP_OUT_OF_FUEL = 11
_TRAP_STACK_OVERFLOW = 0
_TRAP_NAMES = {
    0: "stack overflow",
    1: "out-of-bounds memory access",
    2: "misaligned memory access",
    3: "out-of-bounds table access",
    4: "indirect call to a null table entry",
    5: "indirect call signature mismatch",
    6: "integer overflow",
    7: "integer division by zero",
    8: "invalid conversion to integer",
    9: "unreachable instruction executed",
}


class Sandbox:
    """What every sandbox of one function sees and may use, prepared once in C-ready form."""

    __slots__ = (
        "_argv",
        "_env_names",
        "_env_values",
        "_keepalive",
        "argc",
        "envc",
        "fuel",
        "host",
        "limits",
        "mounts",
        "ticks",
    )

    def __init__(
        self,
        engine: Engine,
        limits: Limits,
        *,
        argv: Sequence[str] = ("main",),
        env: Sequence[tuple[str, str]] = (),
        mounts: Sequence[Mount] = (),
        host: FunctionHost | None = None,
    ) -> None:
        self.limits = limits
        self.host = host
        self.ticks = engine.ticks_for(limits.timeout)
        self.fuel = limits.fuel_limit if limits.fuel_limit is not None else UNLIMITED_FUEL
        encoded_argv = [arg.encode() for arg in argv]
        names = [name.encode() for name, _ in env]
        values = [value.encode() for _, value in env]
        self._argv = (c_char_p * len(encoded_argv))(*encoded_argv)
        self._env_names = (c_char_p * len(names))(*names)
        self._env_values = (c_char_p * len(values))(*values)
        self._keepalive = (encoded_argv, names, values)
        self.argc = len(encoded_argv)
        self.envc = len(names)
        self.mounts = tuple(
            (str(mount.host_dir).encode(), mount.guest_dir.encode(), mount.writable)
            for mount in mounts
        )

    def configure(self, wasi: int) -> None:
        """Give a fresh WASI config this sandbox's argv, environment and preopened directories."""
        if not _capi.wasi_config_set_argv(wasi, self.argc, self._argv):
            raise HostError("wasi_config_set_argv failed")
        if self.envc and not _capi.wasi_config_set_env(
            wasi, self.envc, self._env_names, self._env_values
        ):
            raise HostError("wasi_config_set_env failed")
        for host_dir, guest_dir, writable in self.mounts:
            if not _capi.wasi_config_preopen_dir(wasi, host_dir, guest_dir, writable):
                raise HostError(f"cannot preopen {host_dir.decode()} as {guest_dir.decode()}")


@dataclass(slots=True)
class Run:
    """The outcome of one invocation: output, resource use, and the error if it failed."""

    stdout: bytes
    stderr: bytes
    error: InvocationError | None
    exit_code: int | None
    fuel_consumed: int
    memory_bytes: int
    stderr_truncated: bool
    host_calls: list[HostCall]
    # Nanoseconds spent in: store and WASI setup, instantiation, the guest, teardown.
    phases: tuple[int, int, int, int]

    @property
    def ok(self) -> bool:
        return self.error is None


class _Scratch:
    """Per-thread C structs reused across invocations to avoid allocating them each time."""

    __slots__ = ("exit_code", "fuel", "instance", "item", "trap")

    def __init__(self) -> None:
        self.instance = _capi.Instance()
        self.item = _capi.Extern()
        self.trap = c_void_p()
        self.exit_code = c_int()
        self.fuel = c_uint64()


_scratch = threading.local()


def invoke(
    engine: Engine,
    module: CompiledModule,
    sandbox: Sandbox,
    stdin: bytes,
    *,
    tenant: str = "",
    trace_id: str = "",
) -> Run:
    """Run ``module``'s ``_start`` once on ``stdin`` in a fresh sandbox; never raises for guests."""
    scratch: _Scratch | None = getattr(_scratch, "value", None)
    if scratch is None:
        scratch = _scratch.value = _Scratch()
    limits = sandbox.limits
    stdout = CapturedStream(limits.stdout_limit)
    stderr = CapturedStream(limits.stderr_limit)
    invocation = context.InvocationContext(limits.timeout, sandbox.host, tenant, trace_id)
    context.enter(invocation)
    started = time.perf_counter_ns()
    store = _capi.store_new(engine.pointer, None, None)
    error: InvocationError | None = None
    exit_code: int | None = None
    fuel_consumed = memory_bytes = 0
    configured = instantiated = finished = started
    try:
        store_context = _capi.store_context(store)
        _capi.store_limiter(store, limits.memory_limit, -1, 1, -1, -1)
        _set_up_wasi(store_context, sandbox, stdin, stdout, stderr)
        _capi.context_set_epoch_deadline(store_context, sandbox.ticks)
        _check(_capi.context_set_fuel(store_context, sandbox.fuel), "set fuel")
        configured = time.perf_counter_ns()

        trap = scratch.trap
        trap.value = None
        failure = _capi.instance_pre_instantiate(
            module.pre_pointer, store_context, byref(scratch.instance), byref(trap)
        )
        instantiated = time.perf_counter_ns()
        if failure or trap.value:
            error = _instantiation_error(failure, trap, module, limits, invocation)
        else:
            item = scratch.item
            _capi.instance_export_get(
                store_context, byref(scratch.instance), b"_start", 6, byref(item)
            )
            failure = _capi.func_call(
                store_context, byref(item, _capi.EXTERN_ITEM_OFFSET), None, 0, None, 0, byref(trap)
            )
            finished = time.perf_counter_ns()
            memory_bytes = _memory_size(store_context, scratch)
            if trap.value:
                error = _trap_error(trap.value, limits, invocation, memory_bytes)
            elif failure:
                if _capi.error_exit_status(failure, byref(scratch.exit_code)):
                    exit_code = scratch.exit_code.value
                    _capi.error_delete(failure)
                    if exit_code != 0:
                        error = _exit_error(exit_code, limits, memory_bytes)
                else:
                    error = _failure_error(_capi.take_error_message(failure), invocation)
            else:
                exit_code = 0
        if not _capi.context_get_fuel(store_context, byref(scratch.fuel)):
            fuel_consumed = sandbox.fuel - scratch.fuel.value
    except InvocationError as failure_error:
        error = failure_error
    finally:
        context.leave()
        _capi.store_delete(store)
    out, out_exceeded = stdout.read()
    err, err_exceeded = stderr.read()
    stdout.close()
    stderr.close()
    ended = time.perf_counter_ns()
    # Phases that never began (an early failure) take no time.
    instantiated = max(instantiated, configured)
    finished = max(finished, instantiated)
    if out_exceeded and (error is None or error.kind != GuestFault.TIMEOUT.label):
        error = GuestError(
            GuestFault.OUTPUT_LIMIT,
            "function output too large",
            f"guest wrote more than {limits.stdout_limit} bytes to stdout (stdout_limit)",
        )
    return Run(
        stdout=out,
        stderr=err,
        error=error,
        exit_code=exit_code,
        fuel_consumed=fuel_consumed,
        memory_bytes=memory_bytes,
        stderr_truncated=err_exceeded,
        host_calls=invocation.calls,
        phases=(
            configured - started,
            instantiated - configured,
            finished - instantiated,
            ended - finished,
        ),
    )


def _set_up_wasi(
    store_context: int,
    sandbox: Sandbox,
    stdin: bytes,
    stdout: CapturedStream,
    stderr: CapturedStream,
) -> None:
    wasi = _capi.wasi_config_new()
    try:
        sandbox.configure(wasi)
        vector = _capi.ByteVec()
        _capi.byte_vec_new(byref(vector), len(stdin), stdin)
        _capi.wasi_config_set_stdin_bytes(wasi, byref(vector))  # takes the vector's bytes
        if not (
            _capi.wasi_config_set_stdout_file(wasi, stdout.path)
            and _capi.wasi_config_set_stderr_file(wasi, stderr.path)
        ):
            raise HostError("cannot open the guest's output streams")
    except BaseException:
        _capi.wasi_config_delete(wasi)
        raise
    stdout.seal()
    stderr.seal()
    _check(_capi.context_set_wasi(store_context, wasi), "set up WASI")  # takes the config


def _check(failure: int | None, what: str) -> None:
    if failure:
        raise HostError(f"cannot {what}: {_capi.take_error_message(failure)}")


def _memory_size(store_context: int, scratch: _Scratch) -> int:
    item = scratch.item
    if (
        _capi.instance_export_get(store_context, byref(scratch.instance), b"memory", 6, byref(item))
        and int(item.kind) == _capi.EXTERN_MEMORY
    ):
        size: int = _capi.memory_data_size(store_context, byref(item, _capi.EXTERN_ITEM_OFFSET))
        return size
    return 0


def _near_memory_limit(memory_bytes: int, limits: Limits) -> bool:
    # wasmtime refuses a memory.grow past the limit by returning -1, which the guest's allocator
    # turns into an abort or an error exit; nothing tells us directly. A guest that fails with
    # its memory this close to the limit has almost surely been refused memory (allocators
    # grow in chunks of up to a few MiB).
    headroom = max(4 * 1024 * 1024, limits.memory_limit // 8)
    return memory_bytes + headroom > limits.memory_limit


def _memory_error(limits: Limits, memory_bytes: int, how: str) -> GuestError:
    mib = 1024 * 1024
    return GuestError(
        GuestFault.MEMORY_LIMIT,
        "function exceeded its memory limit",
        f"guest {how} while using {memory_bytes / mib:.1f} MiB of its memory_limit of "
        f"{limits.memory_limit / mib:.1f} MiB; it was most likely refused more memory",
    )


def _trap_error(
    trap: int, limits: Limits, invocation: context.InvocationContext, memory_bytes: int
) -> InvocationError:
    code, message = _capi.take_trap(trap)
    if invocation.host_failure is not None:
        return HostError(f"host function failed: {invocation.host_failure!r}")
    if code == _TRAP_INTERRUPT or invocation.timed_out:
        return GuestError(
            GuestFault.TIMEOUT,
            "function timed out",
            f"guest ran past its timeout of {limits.timeout:g}s and was interrupted",
        )
    if code == _TRAP_OUT_OF_FUEL:
        return GuestError(
            GuestFault.FUEL_EXHAUSTED,
            "function ran out of fuel",
            f"guest consumed its fuel_limit of {limits.fuel_limit} units",
        )
    if code != _TRAP_STACK_OVERFLOW and _near_memory_limit(memory_bytes, limits):
        return _memory_error(
            limits, memory_bytes, f"trapped ({_TRAP_NAMES.get(code or -1, message)})"
        )
    name = _TRAP_NAMES.get(code, "trap") if code is not None else "trap"
    return GuestError(GuestFault.TRAP, f"function crashed: {name}", f"guest trapped: {message}")


def _exit_error(exit_code: int, limits: Limits, memory_bytes: int) -> GuestError:
    if _near_memory_limit(memory_bytes, limits):
        return _memory_error(limits, memory_bytes, f"exited with status {exit_code}")
    return GuestError(
        GuestFault.EXIT,
        "function failed",
        f"guest exited with status {exit_code}",
    )


def _failure_error(message: str, invocation: context.InvocationContext) -> InvocationError:
    if invocation.host_failure is not None:
        return HostError(f"host function failed: {invocation.host_failure!r}")
    if invocation.timed_out:
        return GuestError(GuestFault.TIMEOUT, "function timed out", "guest slept past its timeout")
    return GuestError(GuestFault.TRAP, "function crashed", f"guest failed: {message}")


def _instantiation_error(
    failure: int | None,
    trap: c_void_p,
    module: CompiledModule,
    limits: Limits,
    invocation: context.InvocationContext,
) -> InvocationError:
    if trap.value:
        # A start function or data segment initialisation trapped.
        return _trap_error(trap.value, limits, invocation, 0)
    message = _capi.take_error_message(failure) if failure else "unknown error"
    if module.memory_minimum > limits.memory_limit or ("memory" in message and "limit" in message):
        return GuestError(
            GuestFault.MEMORY_LIMIT,
            "function exceeded its memory limit",
            f"module needs {module.memory_minimum} bytes of memory to start, more than its "
            f"memory_limit of {limits.memory_limit} bytes",
        )
    return HostError(f"cannot instantiate {module.path}: {message}")
