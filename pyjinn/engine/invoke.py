"""The one door into wasm: run a module once in a fresh, limited sandbox and say what happened.

``invoke`` is the only function in pyjinn that executes guest code. It builds a new store with
its limits (memory, fuel, epoch deadline), a WASI context that sees exactly what the function was
granted, instantiates the linked module, calls ``_start`` and tears everything down. A
pre-initialised module (a Python function: ``pyjinn.engine.preinit``) has its memory image
written into the fresh instance first and is entered at its own export. Every way
the guest can fail is mapped here, in one place, to a ``GuestError`` with its fault; a failure of
pyjinn itself becomes a ``HostError``. Guest failures are returned, not raised, because their
stderr matters as much as the error.

The mechanics run in one native call (``_fastinvoke``, a small C extension built with pyjinn)
that releases the GIL once for the whole invocation. Where it could not be built, the same
sequence runs through ctypes (``_ctypes_run``), about twice as slow; both report the same raw
facts, and everything here is shared.

For crash records a run also reports what only the mechanics can see: the wasm backtrace of a
failure, the clock readings the guest took, and, when asked (``snapshot``), a copy of the
guest's linear memory taken before its store is torn down.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyjinn.capabilities.base import FunctionHost, HostCall
from pyjinn.config.model import Limits, Mount
from pyjinn.engine import _ctypes_run, context, native
from pyjinn.engine._capi import Frame
from pyjinn.engine.context import PollOutcome, Replayer
from pyjinn.engine.engine import Engine
from pyjinn.engine.modules import CompiledModule
from pyjinn.engine.snapshot import MemoryImage
from pyjinn.errors import GuestError, GuestFault, HostError, InvocationError

log = logging.getLogger("pyjinn.engine")

UNLIMITED_FUEL = (1 << 63) - 1

# How a run ended, as both mechanics report it.
ENDED_RETURNED, ENDED_EXIT, ENDED_TRAP, ENDED_ERROR = 0, 1, 2, 3
ENDED_START_TRAP, ENDED_START_ERROR, ENDED_SETUP_ERROR = 4, 5, 6
# Why the limits watch stopped the guest at an epoch tick, if it did.
STOPPED_NONE, STOPPED_TIMEOUT, STOPPED_STDOUT, STOPPED_STDERR = 0, 1, 2, 3
# Past its stderr_limit a guest may write this much more (cut from its log) before it is
# stopped; the native path has the same constant.
STDERR_GRACE = 1024 * 1024
# When a run copies the guest's linear memory before its store goes (for crash records).
SNAPSHOT_NEVER, SNAPSHOT_ON_FAILURE, SNAPSHOT_ALWAYS = 0, 1, 2

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


_native = native.extension
NATIVE = _native is not None


class Sandbox:
    """What every sandbox of one function sees and may use, prepared once."""

    __slots__ = ("argv", "env", "fuel", "host", "limits", "preopens", "prepared", "snapshot",
                 "timeout_ns")  # fmt: skip

    def __init__(
        self,
        engine: Engine,
        limits: Limits,
        *,
        argv: Sequence[str] = ("main",),
        env: Sequence[tuple[str, str]] = (),
        mounts: Sequence[Mount] = (),
        host: FunctionHost | None = None,
        snapshot: int = SNAPSHOT_NEVER,
    ) -> None:
        self.limits = limits
        self.snapshot = snapshot  # when its runs copy the guest's memory, unless told otherwise
        self.host = host
        self.timeout_ns = round(limits.timeout * 1e9)
        self.fuel = limits.fuel_limit if limits.fuel_limit is not None else UNLIMITED_FUEL
        self.argv = [arg.encode() for arg in argv]
        self.env = [(name.encode(), value.encode()) for name, value in env]
        self.preopens = [
            (str(mount.host_dir).encode(), mount.guest_dir.encode(), mount.writable)
            for mount in mounts
        ]
        # The ctypes mechanics want C arrays; build them once, and only if they are used.
        self.prepared = None if NATIVE else _ctypes_run.prepare(self.argv, self.env)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a crash record needs of a run beyond its outcome: how the guest failed, as wasmtime
    said it (trap code, -1 for none, and message), and where (up to 64 frames, youngest first,
    with the number of frames in the whole trace); the guest's memory, when the run took a
    snapshot; and the nondeterministic inputs the guest received (see engine.context)."""

    trap_code: int = -1
    trap_message: str = ""
    backtrace: tuple[tuple[Frame, ...], int] | None = None
    memory: MemoryImage | None = None
    clock_log: bytes | bytearray = b""
    randomness: list[bytes] | None = None
    polls: list[PollOutcome] | None = None


# A run that returned and received nothing nondeterministic: most of them, sharing one object.
NO_EVIDENCE = Evidence()


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
    evidence: Evidence = NO_EVIDENCE
    # Host calls made past the record's budget (engine.context.InvocationContext.keep).
    host_calls_dropped: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def trap_code(self) -> int:
        return self.evidence.trap_code

    @property
    def trap_message(self) -> str:
        return self.evidence.trap_message

    @property
    def backtrace(self) -> tuple[tuple[Frame, ...], int] | None:
        return self.evidence.backtrace

    @property
    def memory(self) -> MemoryImage | None:
        return self.evidence.memory

    @property
    def clock_log(self) -> bytes | bytearray:
        return self.evidence.clock_log

    @property
    def randomness(self) -> list[bytes] | None:
        return self.evidence.randomness

    @property
    def polls(self) -> list[PollOutcome] | None:
        return self.evidence.polls


def invoke(
    engine: Engine,
    module: CompiledModule,
    sandbox: Sandbox,
    stdin: bytes,
    *,
    tenant: str = "",
    trace_id: str = "",
    snapshot: int | None = None,
    replay: Replayer | None = None,
    connection: Any = None,
) -> Run:
    """Run ``module``'s ``_start`` (or its pre-initialised entry, from its memory image) once on
    ``stdin`` in a fresh sandbox; never raises for guests.

    ``snapshot`` (default: the sandbox's) says when to copy the guest's memory into the run;
    ``replay`` answers the guest's clock, random and poll calls from a record. ``connection``
    is the client connection the guest may take over (``pyjinn.websocket``): its host calls
    move the invocation's deadline, which the limits watch then reads at every tick."""
    limits = sandbox.limits
    if snapshot is None:
        snapshot = sandbox.snapshot
    invocation = context.InvocationContext(
        sandbox.timeout_ns, sandbox.host, tenant, trace_id, replay, connection
    )
    # A pre-initialised module (pyjinn.engine.preinit) starts from its image, at its entry.
    entry = None if module.entry is None else module.entry.native
    image = None if module.image is None else module.image.native
    preopens = [*module.preopens, *sandbox.preopens] if module.preopens else sandbox.preopens
    context.enter(invocation)
    try:
        raw = _run_transient_free(engine, module, sandbox, stdin, invocation, snapshot, entry,
                                  image, preopens)  # fmt: skip
    finally:
        context.leave()
        if invocation.resources:
            context.release_resources(invocation)  # a lock never outlives its invocation
    (ended, exit_code, code, message, fuel_left, memory_bytes) = raw[:6]
    stdout, stdout_exceeded, stderr, stderr_exceeded, phases, stopped = raw[6:12]
    clock_log, backtrace, memory = raw[12:]
    error = _classify(ended, exit_code, code, message, memory_bytes, module, limits, invocation)
    if stopped == STOPPED_TIMEOUT and not isinstance(error, HostError):
        error = _timeout_error(limits)
    # Output past its cap is the guest's fault whatever else happened, a timeout included.
    if (stdout_exceeded or stopped == STOPPED_STDOUT) and not isinstance(error, HostError):
        error = GuestError(
            GuestFault.OUTPUT_LIMIT,
            "function output too large",
            f"guest wrote more than {limits.stdout_limit} bytes to stdout (stdout_limit)"
            + (" and was stopped" if stopped == STOPPED_STDOUT else ""),
        )
    elif stopped == STOPPED_STDERR and not isinstance(error, HostError):
        error = GuestError(
            GuestFault.OUTPUT_LIMIT,
            "function output too large",
            f"guest went on writing to stderr past its stderr_limit of {limits.stderr_limit} "
            f"bytes (more than {STDERR_GRACE} bytes over) and was stopped",
        )
    return Run(
        stdout=stdout,
        stderr=stderr,
        error=error,
        exit_code=exit_code if ended in (ENDED_RETURNED, ENDED_EXIT) else None,
        fuel_consumed=sandbox.fuel - fuel_left,
        memory_bytes=memory_bytes,
        stderr_truncated=stderr_exceeded,
        host_calls=invocation.calls,
        host_calls_dropped=invocation.calls_dropped,
        phases=phases,
        evidence=(
            NO_EVIDENCE
            if ended == ENDED_RETURNED
            and memory is None
            and not clock_log
            and invocation.clock_log is None
            and invocation.randomness is None
            and invocation.polls is None
            else Evidence(
                code,
                message,
                backtrace,
                MemoryImage(*memory) if memory is not None else None,
                clock_log or invocation.clock_log or b"",
                invocation.randomness,
                invocation.polls,
            )
        ),
    )


# What the kernel answers, through wasmtime, when it cannot seal the memfd of a module's memory
# image yet (pages of it briefly pinned, e.g. while being migrated): the guest never started, so
# the instantiation is tried again.
_TRANSIENT_INSTANTIATION = "cannot add seals to the memfd"
_INSTANTIATION_ATTEMPTS = 3


def _run_transient_free(
    engine: Engine,
    module: CompiledModule,
    sandbox: Sandbox,
    stdin: bytes,
    invocation: context.InvocationContext,
    snapshot: int,
    entry: Any,
    image: Any,
    preopens: Any,
) -> Any:
    """One run of ``module`` (the native call, or the ctypes one without the extension), tried
    again while its instantiation fails for a transient reason of the kernel's."""
    limits = sandbox.limits
    for attempt in range(_INSTANTIATION_ATTEMPTS):
        if _native is not None:
            raw = _native.invoke(
                engine.pointer,
                module.pre_pointer,
                stdin,
                sandbox.argv,
                sandbox.env,
                preopens,
                limits.memory_limit,
                invocation.deadline_ns,
                sandbox.fuel,
                limits.stdout_limit,
                limits.stderr_limit,
                invocation.created_ns,
                snapshot,
                entry,
                image,
                invocation.deadline_cell,
                module.native_writes,
            )
        else:
            if module.native_writes:  # its fd_write writes only where the native path reads
                raise RuntimeError(
                    f"{module.path} was linked for the native invocation path, which is off"
                )
            raw = _ctypes_run.run(
                engine.pointer,
                module.pre_pointer,
                stdin,
                sandbox,
                invocation.deadline_ns,
                snapshot,
                entry=entry,
                image=image,
                preopens=preopens,
                deadline_cell=invocation.deadline_cell,
            )
        if (
            raw[0] != ENDED_START_ERROR
            or _TRANSIENT_INSTANTIATION not in raw[3]
            or attempt == _INSTANTIATION_ATTEMPTS - 1
        ):
            break
        log.warning("Instantiating %s failed for now (%s); trying again.", module.path, raw[3])
        time.sleep(0.005 * (attempt + 1))
    return raw


def _classify(
    ended: int,
    exit_code: int,
    code: int,
    message: str,
    memory_bytes: int,
    module: CompiledModule,
    limits: Limits,
    invocation: context.InvocationContext,
) -> InvocationError | None:
    if ended == ENDED_RETURNED:
        return None
    if ended == ENDED_SETUP_ERROR:
        return HostError(f"cannot set up the sandbox: {message}")
    if ended == ENDED_EXIT:
        return _exit_error(exit_code, limits, memory_bytes)
    if ended in (ENDED_TRAP, ENDED_START_TRAP):
        return _trap_error(code if code >= 0 else None, message, limits, invocation, memory_bytes)
    if ended == ENDED_ERROR:
        return _failure_error(message, invocation)
    return _instantiation_error(message, module, limits)


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
    code: int | None,
    message: str,
    limits: Limits,
    invocation: context.InvocationContext,
    memory_bytes: int,
) -> InvocationError:
    if invocation.host_failure is not None:
        return HostError(f"host function failed: {invocation.host_failure!r}")
    if code == _TRAP_INTERRUPT or invocation.timed_out:
        return _timeout_error(limits)
    if code == _TRAP_OUT_OF_FUEL:
        return GuestError(
            GuestFault.FUEL_EXHAUSTED,
            "function ran out of fuel",
            f"guest consumed its fuel_limit of {limits.fuel_limit} units",
        )
    name = _TRAP_NAMES.get(code, "trap") if code is not None else "trap"
    if code != _TRAP_STACK_OVERFLOW and _near_memory_limit(memory_bytes, limits):
        return _memory_error(limits, memory_bytes, f"trapped ({name})")
    return GuestError(GuestFault.TRAP, f"function crashed: {name}", f"guest trapped: {message}")


def _timeout_error(limits: Limits) -> GuestError:
    return GuestError(
        GuestFault.TIMEOUT,
        "function timed out",
        f"guest ran past its timeout of {limits.timeout:g}s and was interrupted",
    )


def _exit_error(exit_code: int, limits: Limits, memory_bytes: int) -> GuestError:
    if _near_memory_limit(memory_bytes, limits):
        return _memory_error(limits, memory_bytes, f"exited with status {exit_code}")
    return GuestError(GuestFault.EXIT, "function failed", f"guest exited with status {exit_code}")


def _failure_error(message: str, invocation: context.InvocationContext) -> InvocationError:
    if invocation.host_failure is not None:
        return HostError(f"host function failed: {invocation.host_failure!r}")
    if invocation.timed_out:
        return GuestError(GuestFault.TIMEOUT, "function timed out", "guest slept past its timeout")
    return GuestError(GuestFault.TRAP, "function crashed", f"guest failed: {message}")


def _instantiation_error(message: str, module: CompiledModule, limits: Limits) -> InvocationError:
    if module.memory_minimum > limits.memory_limit or ("memory" in message and "limit" in message):
        return GuestError(
            GuestFault.MEMORY_LIMIT,
            "function exceeded its memory limit",
            f"module needs {module.memory_minimum} bytes of memory to start, more than its "
            f"memory_limit of {limits.memory_limit} bytes",
        )
    return HostError(f"cannot instantiate {module.path}: {message}")
