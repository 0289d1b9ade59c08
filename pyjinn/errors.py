"""Every error pyjinn raises, in one tree.

    PyjinnError                      base class; ``str()`` is one short sentence
    ├── ConfigError                  one problem in a config file, at FILE:LINE
    │   └── ConfigErrors             several of them, reported together
    ├── ModuleError                  a module cannot be loaded (missing, invalid, bad imports,
    │                                refused by the security policy)
    ├── ModuleErrors                 every module of a config that cannot load, reported together
    ├── SigningError                 a key, key file or signed module cannot be used
    └── InvocationError              one invocation failed; carries blame and an HTTP status
        ├── GuestError               the guest is to blame (trap, exit, timeout, limits, output)
        ├── RequestRejected          the request was refused before the guest ran (413, 503)
        └── HostError                pyjinn itself failed (500); details go to logs only

An invocation error has two faces: ``client_message`` is the short text a client may see,
``detail`` is what operators read in the logs. Internals never reach ``client_message``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class PyjinnError(Exception):
    """Base class of every error raised by pyjinn."""


@dataclass(frozen=True)
class Location:
    """A place in a config file, printed as ``FILE:LINE``."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class ConfigError(PyjinnError):
    """One problem in a config file: what is wrong, where, and what was expected."""

    def __init__(self, location: Location | None, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigErrors(ConfigError):
    """Several config problems found in one pass; ``str()`` lists one per line."""

    def __init__(self, errors: Iterable[ConfigError]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(first.location, first.message)

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


class ModuleError(PyjinnError):
    """A module cannot be loaded: missing, malformed, or asking for what it may not have."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class ModuleErrors(PyjinnError):
    """Modules of a config that cannot be loaded; ``problems`` holds one message each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class SigningError(PyjinnError):
    """A key, a key file or a module cannot be used for signing or verifying.

    The message says what is wrong and the expected form; it never contains private key material.
    """


class Blame(enum.Enum):
    """Who caused a failed invocation."""

    GUEST = "guest"
    CLIENT = "client"
    HOST = "host"


class GuestFault(enum.Enum):
    """The ways a guest can fail, each with the HTTP status the client receives."""

    TIMEOUT = ("timeout", 504)
    TRAP = ("trap", 502)
    EXIT = ("exit", 502)
    MEMORY_LIMIT = ("memory_limit", 502)
    FUEL_EXHAUSTED = ("fuel_exhausted", 502)
    OUTPUT_LIMIT = ("output_limit", 502)
    INVALID_OUTPUT = ("invalid_output", 502)

    def __init__(self, label: str, status: int) -> None:
        self.label = label
        self.status = status


class InvocationError(PyjinnError):
    """One invocation failed. The server keeps serving; only this request gets the error."""

    blame: Blame = Blame.HOST
    status: int = 500
    kind: str = "host_error"

    def __init__(self, client_message: str, detail: str | None = None) -> None:
        self.client_message = client_message
        self.detail = detail or client_message
        super().__init__(self.detail)


class GuestError(InvocationError):
    """The guest failed: trapped, exited non-zero, out of time, memory or fuel, or wrote junk."""

    blame = Blame.GUEST

    def __init__(self, fault: GuestFault, client_message: str, detail: str | None = None) -> None:
        self.fault = fault
        self.status = fault.status
        self.kind = fault.label
        super().__init__(client_message, detail)


class RequestRejected(InvocationError):
    """The request was refused before the guest ran: too large, or every slot busy."""

    blame = Blame.CLIENT

    def __init__(
        self,
        status: int,
        kind: str,
        client_message: str,
        detail: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.status = status
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(client_message, detail)


class HostError(InvocationError):
    """pyjinn failed while serving an invocation. Clients see a generic message; logs the detail."""

    blame = Blame.HOST
    status = 500
    kind = "host_error"

    def __init__(self, detail: str) -> None:
        super().__init__("internal error", detail)
