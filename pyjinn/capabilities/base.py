"""What every capability shares: the shape of a capability, the call it serves, and the record.

A capability is one module with the same small shape:

- ``name``: what ``abi.HostFunction.capability`` calls it;
- ``authorize(permissions, call, arguments)``: the denial message for one call, or None. It
  starts from ``grants.denial`` (the grant the ABI table names for the call, which was already
  checked against the module's imports when it loaded) and adds what only the arguments tell,
  like the key's namespace;
- one handler per host function, named like it: ``handler(call, *arguments)``.

Handlers receive decoded arguments (``str``, ``bytes``, ``int``, or ``(pointer, capacity)``
for output buffers), return their result, and raise ``HostCallError`` for the errors of the ABI
table. Everything else (guest memory, permissions, timing, the record, encoding the result) is
the dispatcher's job, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyjinn.abi import ErrorCode, HostFunction
from pyjinn.config.model import Permissions
from pyjinn.engine.context import InvocationContext
from pyjinn.engine.hostfunc import GuestMemory


class HostCallError(Exception):
    """A host call failed in a way the guest is told about (an ``ErrorCode`` and a message)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


@dataclass(slots=True)
class HostCall:
    """One entry of an invocation's record: the call, its decoded arguments, and what the guest
    got back (the handler's result, or an error code and message). ``written`` is what a
    handler copied into a guest buffer itself (Gojinn's calls with an out buffer), so a replay
    can copy the same bytes."""

    capability: str
    call: str
    arguments: tuple[Any, ...]
    result: Any = None
    error: ErrorCode | None = None
    message: str = ""
    seconds: float = 0.0
    written: bytes | None = None


HOST_CALL_RESERVE = 0.25  # seconds


@dataclass(slots=True)
class Call:
    """One host call in progress: the invocation it belongs to and the caller's memory."""

    context: InvocationContext
    function: HostFunction
    memory: GuestMemory | None

    @property
    def tenant(self) -> str:
        return self.context.tenant

    def budget(self, ceiling: float = 5.0) -> float:
        """Seconds a backend call may take: never past the invocation's deadline, less a
        reserve (10% of the timeout, at most ``HOST_CALL_RESERVE``) that leaves the guest time
        to handle the call's timeout error before its own deadline stops it."""
        context = self.context
        reserve = min(HOST_CALL_RESERVE, (context.deadline_ns - context.created_ns) / 10e9)
        return max(0.0, min(ceiling, context.remaining() - reserve))

    def read(self, data: tuple[int, int], limit: int, what: str) -> bytes:
        """The bytes of a ``SIZED`` argument, read from guest memory only once its length is
        known to be within ``limit`` (else LIMIT, and nothing was copied)."""
        pointer, length = data
        if length > limit:
            raise HostCallError(
                ErrorCode.LIMIT, f"{what} of {length} bytes exceeds the limit of {limit} bytes"
            )
        assert self.memory is not None
        return self.memory.read(pointer, length)


class Capability(Protocol):
    """See the module docstring."""

    name: str

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None: ...


@dataclass(frozen=True)
class FunctionHost:
    """What one function's host calls may reach: its name, its grants, the capabilities."""

    function: str
    permissions: Permissions
    capabilities: Mapping[str, Capability] = field(default_factory=dict)
