"""The one choke point for host calls.

Every function of the ABI table (``pyjinn.abi``) is defined on the linker through here. For each
call the dispatcher decodes the arguments from guest memory (a bad pointer or length is the
guest's ``INVALID``), checks the function's permissions, runs the capability's handler, times
it, appends ``(capability, call, arguments, result or error)`` to the invocation's record (with
what a handler copied into a guest buffer itself, so a replay can copy it again), and encodes
the result with the ABI's conventions. Capabilities only ever see decoded arguments and
raise ``HostCallError``; nothing a guest passes can raise into wasmtime.
"""

from __future__ import annotations

import ctypes
import json
import logging
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import wasmtime

from pyjinn.abi import FUNCTIONS, Arg, ErrorCode, HostFunction, Returns
from pyjinn.capabilities.base import Call, FunctionHost, HostCall, HostCallError
from pyjinn.capabilities.core import Core
from pyjinn.config.model import Permissions
from pyjinn.engine import _capi, hostfunc
from pyjinn.engine.context import InvocationContext, current
from pyjinn.observability import tracing
from pyjinn.observability.metrics import REGISTRY as METRICS

log = logging.getLogger("pyjinn.dispatcher")

# For sandboxes without a function host (``pyjinn run``): only the core capability.
DEFAULT_HOST = FunctionHost("", Permissions(), {"core": Core()})

_VALTYPES = {"i32": wasmtime.ValType.i32(), "i64": wasmtime.ValType.i64()}
_RESULTS = {code: code.name.lower() for code in ErrorCode}


def define_host_functions(linker: wasmtime.Linker, functions: Iterable[HostFunction]) -> None:
    """Define ``functions`` (the ABI table, with chosen variants) on ``linker``."""
    for function in functions:
        hostfunc.define(
            linker,
            function.module,
            function.name,
            [_VALTYPES[param] for param in function.params],
            [_VALTYPES[result] for result in function.results],
            _implementation(function),
        )


def abi_functions(variants: Iterable[HostFunction] = ()) -> list[HostFunction]:
    """The ABI table with ``variants`` in place of the functions of the same name."""
    chosen = {(variant.module, variant.name): variant for variant in variants}
    return [chosen.get((function.module, function.name), function) for function in FUNCTIONS]


def implementation(function: HostFunction) -> hostfunc.HostImplementation:
    """The host function serving ``function`` (unchecked convention), for a caller that
    forwards raw calls to it: the bridge of interpreter guests (pyjinn.interpreters.bridge)."""
    return _implementation(function)


def _implementation(function: HostFunction) -> hostfunc.HostImplementation:
    needs_memory = any(kind is not Arg.I32 for _, kind in function.args)
    handler_name = function.name
    read_slots = _slot_reader(function)
    # Where a handler writes into a guest buffer itself (Gojinn's out buffers; the core
    # capability's copies are replayed by running it again): keep what it wrote.
    kinds = [kind for _, kind in function.args]
    out_index = kinds.index(Arg.OUT) if Arg.OUT in kinds and function.capability != "core" else -1

    def implementation(caller: int, slots: int) -> int | None:
        context = current()
        host = context.host or DEFAULT_HOST
        record = HostCall(function.capability, function.name, ())
        started = time.perf_counter()
        memory = None
        try:
            memory = hostfunc.guest_memory(caller, context) if needs_memory else None
            arguments = _decode(function, read_slots(slots), memory)
            record.arguments = arguments
            capability = host.capabilities.get(function.capability)
            if capability is None:
                raise HostCallError(
                    ErrorCode.UNAVAILABLE, f"the {function.capability} capability is not available"
                )
            denial = capability.authorize(host.permissions, function.name, arguments)
            if denial is not None:
                raise HostCallError(ErrorCode.DENIED, f"{function.name}: {denial}")
            handler = getattr(capability, handler_name)
            result = handler(Call(context, function, memory), *arguments)
        except HostCallError as error:
            _fail(function, context, slots, record, error.code, error.message, memory)
        except hostfunc.GuestMemoryError as error:
            _fail(function, context, slots, record, ErrorCode.INVALID, str(error), memory)
        except hostfunc.GuestTrap:
            raise  # the guest is stopped (a replay it diverged from), not answered
        except Exception as error:  # our bug: the guest gets INTERNAL, operators the traceback
            log.exception(
                "Host call %s failed inside pyjinn.",
                function.qualified_name,
                extra={"function": host.function, "blame": "host"},
            )
            message = f"internal error: {error!r}"
            _fail(function, context, slots, record, ErrorCode.INTERNAL, message, memory)
        else:
            record.result = result
            _encode(function, context, slots, result, memory, record.arguments)
            if out_index >= 0 and result:
                assert memory is not None
                pointer, capacity = arguments[out_index]
                # A count of bytes the handler copied, or a text _encode copied what fits of.
                written = result if isinstance(result, int) else min(len(result), max(capacity, 0))
                record.written = memory.read(pointer, written)
        record.seconds = time.perf_counter() - started
        context.keep(record, _size(record))
        # Metrics and the host-call span come from the record, here and only here.
        result = "ok" if record.error is None else _RESULTS[record.error]
        METRICS.host_call(host.function, record.capability, record.call, result, record.seconds)
        if tracing.enabled:
            tracing.host_call_span(
                record.capability, record.call, record.seconds, None if result == "ok" else result
            )
        return None

    return implementation


def _size(record: HostCall) -> int:
    """About how many bytes ``record`` keeps alive (its bytes and text)."""
    size = len(record.written) if record.written is not None else 0
    for value in (*record.arguments, record.result):
        if isinstance(value, bytes | str):
            size += len(value)
    return size


def _slot_reader(function: HostFunction) -> Callable[[int], tuple[int, ...]]:
    """Reads every i32 argument slot of ``function`` in one copy (slots are 16 bytes apart)."""
    count = sum(1 if kind is Arg.I32 else 2 for _, kind in function.args)
    if count == 0:
        return lambda slots: ()
    layout = struct.Struct("<" + "i12x" * (count - 1) + "i")
    size, string_at = layout.size, ctypes.string_at
    return lambda slots: layout.unpack(string_at(slots, size))


def _decode(
    function: HostFunction, raw: tuple[int, ...], memory: hostfunc.GuestMemory | None
) -> tuple[Any, ...]:
    arguments: list[Any] = []
    index = 0
    for name, kind in function.args:
        if kind is Arg.I32:
            arguments.append(raw[index])
            index += 1
            continue
        pointer = raw[index] & 0xFFFFFFFF
        length = raw[index + 1] & 0xFFFFFFFF
        index += 2
        assert memory is not None
        if kind is Arg.OUT or kind is Arg.SIZED:
            memory.check(pointer, length)
            arguments.append((pointer, length))
            continue
        data = memory.read(pointer, length)
        if kind is Arg.STR:
            try:
                arguments.append(data.decode("utf-8"))
            except UnicodeDecodeError:
                raise HostCallError(ErrorCode.INVALID, f"{name} is not valid UTF-8") from None
        else:
            arguments.append(data)
    return tuple(arguments)


def _encode(
    function: HostFunction,
    context: InvocationContext,
    slots: int,
    result: Any,
    memory: hostfunc.GuestMemory | None,
    arguments: tuple[Any, ...],
) -> None:
    returns = function.returns
    if returns is Returns.NOTHING:
        return
    if returns is Returns.STATUS:
        _capi.raw_set_i32(slots, 0, 0)
    elif returns is Returns.DATA:
        context.pending = result
        _capi.raw_set_i64(slots, 0, len(result))
    elif returns is Returns.FLAG:
        _capi.raw_set_i32(slots, 0, 0)
    elif returns is Returns.SUCCEEDED:
        _capi.raw_set_i32(slots, 0, 1)
    elif returns in (Returns.BODY, Returns.MESSAGE):
        _capi.raw_set_i64(slots, 0, result)
    elif returns in (Returns.COUNT, Returns.LENGTH32, Returns.COPIED, Returns.ROWS):
        _capi.raw_set_i32(slots, 0, result)
    elif returns is Returns.ANSWER:
        # The handler returns the whole text; the guest gets what fits in its out buffer.
        pointer, capacity = arguments[[kind for _, kind in function.args].index(Arg.OUT)]
        copied = result[: max(capacity, 0)]
        assert memory is not None
        memory.write(pointer, copied)
        _capi.raw_set_i64(slots, 0, len(copied))
    else:  # Returns.LENGTH
        _capi.raw_set_i64(slots, 0, result)


def _fail(
    function: HostFunction,
    context: InvocationContext,
    slots: int,
    record: HostCall,
    code: ErrorCode,
    message: str,
    memory: hostfunc.GuestMemory | None,
) -> None:
    record.error, record.message = code, message
    context.last_error = message
    returns = function.returns
    if returns is Returns.NOTHING:
        if function.module == "gojinn":  # Gojinn reports nothing to the guest: tell operators
            log.warning("%s failed: %s.", function.qualified_name, message)
    elif returns is Returns.DATA:
        _capi.raw_set_i64(slots, 0, int(code))
    elif returns is Returns.LENGTH:
        _capi.raw_set_i64(slots, 0, -1)  # Gojinn: -1 for anything but a value
    elif returns is Returns.LENGTH32:
        _capi.raw_set_i32(slots, 0, -1)
    elif returns is Returns.FLAG:
        _capi.raw_set_i32(slots, 0, 1)
    elif returns in (Returns.COPIED, Returns.SUCCEEDED):
        _capi.raw_set_i32(slots, 0, 0)
    elif returns in (Returns.BODY, Returns.MESSAGE):
        _capi.raw_set_i64(slots, 0, 0)
    elif returns is Returns.ROWS:
        rows = [{"error": message}]
        _capi.raw_set_i32(slots, 0, _write_error_document(function, record, memory, rows))
    elif returns is Returns.ANSWER:
        answer = {"error": message}
        _capi.raw_set_i64(slots, 0, _write_error_document(function, record, memory, answer))
    else:
        _capi.raw_set_i32(slots, 0, int(code))


def _write_error_document(
    function: HostFunction, record: HostCall, memory: hostfunc.GuestMemory | None, document: Any
) -> int:
    """Gojinn's host_db_query and host_ask_ai report errors in their out buffer, as
    ``[{"error": "..."}]`` and ``{"error": "..."}`` (properly escaped here, unlike Gojinn's);
    0 when the buffer itself is unusable."""
    kinds = [kind for _, kind in function.args]
    if memory is None or Arg.OUT not in kinds or len(record.arguments) != len(kinds):
        return 0  # the arguments did not decode: no buffer to write to
    pointer, capacity = record.arguments[kinds.index(Arg.OUT)]
    text = json.dumps(document).encode()[:capacity]
    memory.write(pointer, text)
    return len(text)
