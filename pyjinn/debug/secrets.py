"""Secrets that must never reach a crash record, and taking them out of what is written.

A record is built from what the guest saw and did, and a secret can turn up anywhere in that:
an environment value the guest copied into its memory, logged, sent to a host call or wrote to
stdout. So every byte string that goes into a record passes through :meth:`Secrets.redact`,
which overwrites each occurrence of each secret with as many ``*`` as it had bytes (offsets in
memory images stay true) and says where it did so and which secret it was. Replay puts the real
values back where the guest received them (stdin, host call results), from the environment or
``--env``; what the guest produced is compared in its redacted form.

A secret is a named value: an environment variable whose value came from a ``{env.X}`` or
``{$X}`` placeholder (named after the variable), the function's debug secret, or a credential
header the function receives (``HTTP_AUTHORIZATION``). Empty values are not secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FILL = 0x2A  # "*"


@dataclass(frozen=True, slots=True)
class Span:
    """``length`` bytes at ``offset`` held the secret ``name`` and were overwritten."""

    offset: int
    length: int
    name: str

    def to_json(self) -> list[object]:
        return [self.offset, self.length, self.name]

    @classmethod
    def from_json(cls, value: object) -> Span:
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], int)
            or not isinstance(value[1], int)
            or not isinstance(value[2], str)
        ):
            raise ValueError(f"a redacted span is [offset, length, name], got {value!r}")
        return cls(value[0], value[1], value[2])


class Secrets:
    """Named secret values; ``redact`` removes them from bytes, ``redact_text`` from text."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str | bytes]] = ()) -> None:
        found: dict[bytes, str] = {}
        for name, value in items:
            data = value.encode() if isinstance(value, str) else value
            if data:
                found.setdefault(data, name)
        # Longest first, so a secret that contains another is taken out whole.
        self._items = sorted(((value, name) for value, name in found.items()), key=_longest)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __repr__(self) -> str:
        return f"Secrets({[name for _, name in self._items]})"

    @property
    def names(self) -> list[str]:
        return sorted({name for _, name in self._items})

    def redact(self, data: bytes) -> tuple[bytes, tuple[Span, ...]]:
        """``data`` with every secret overwritten, and where."""
        if not self._items:
            return data, ()
        spans: list[Span] = []
        buffer: bytearray | None = None
        for value, name in self._items:
            source = data if buffer is None else buffer
            start = source.find(value)
            while start >= 0:
                if buffer is None:
                    buffer = bytearray(data)
                buffer[start : start + len(value)] = bytes([FILL]) * len(value)
                spans.append(Span(start, len(value), name))
                start = buffer.find(value, start + len(value))
        if buffer is None:
            return data, ()
        return bytes(buffer), tuple(sorted(spans, key=lambda span: span.offset))

    def redact_text(self, text: str) -> tuple[str, tuple[Span, ...]]:
        """``text`` with every secret overwritten; spans count UTF-8 bytes."""
        if not self._items:
            return text, ()
        data, spans = self.redact(text.encode("utf-8", "surrogatepass"))
        if not spans:
            return text, ()
        return data.decode("utf-8", "surrogatepass"), spans

    def clean(self, data: bytes) -> bytes:
        """``data`` with every secret overwritten (for what is never replayed: memory)."""
        return self.redact(data)[0]


def _longest(item: tuple[bytes, str]) -> int:
    return -len(item[0])


def restore(data: bytes, spans: Iterable[Span], values: dict[str, bytes]) -> bytes:
    """``data`` with each redacted span given its secret back from ``values`` (by name)."""
    buffer: bytearray | None = None
    for span in spans:
        value = values[span.name]
        if len(value) != span.length:
            raise ValueError(
                f"{span.name} has {len(value)} bytes, but the recorded value had {span.length}"
            )
        if buffer is None:
            buffer = bytearray(data)
        buffer[span.offset : span.offset + span.length] = value
    return data if buffer is None else bytes(buffer)
