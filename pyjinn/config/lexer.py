"""Caddyfile text to lines of tokens, with environment placeholders already substituted.

The Caddyfile is line-oriented: a directive ends where its line ends, unless a quoted string
spans lines. So the lexer hands out :class:`Line` objects rather than a flat token stream, and
the parser never has to count newlines.

Quoting follows Caddy: ``"double quotes"`` where only ``\\"`` (and a backslash before a
newline) is an escape, and ```backticks``` with no escapes at all. A quote only opens at the start
of a token. ``#`` starts a comment only at the start of a token, so ``a#b`` is one word.

Placeholders ``{$NAME}``, ``{$NAME:default}`` and ``{env.NAME}`` are replaced inside every token,
quoted or not. Other ``{...}`` text stays literal, so JSON bodies survive. A token that took a
value from the environment says so (``from_environment``): such values may be secrets, and crash
records never write them.

A Caddyfile is text: a NUL character, or a lone surrogate (what Python makes of bytes that are
not UTF-8), is refused here, in the file and in environment values, so no later step (paths,
connection strings, hashing keys) ever meets one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pyjinn.errors import ConfigError, Location


@dataclass(frozen=True)
class Token:
    """One word of a Caddyfile. ``quoted`` tokens are never braces, comments or keywords."""

    text: str
    location: Location
    quoted: bool = False
    from_environment: bool = False  # a placeholder put an environment variable's value in it

    @property
    def is_open_brace(self) -> bool:
        return self.text == "{" and not self.quoted

    @property
    def is_close_brace(self) -> bool:
        return self.text == "}" and not self.quoted


@dataclass(frozen=True)
class ImportStep:
    """One ``import`` a line came through: what was imported (for cycle checks) and where."""

    key: str
    label: str
    location: Location


@dataclass(frozen=True)
class Line:
    """The tokens of one logical line, and the chain of imports that brought it here."""

    tokens: tuple[Token, ...]
    imported_via: tuple[ImportStep, ...] = ()

    @property
    def location(self) -> Location:
        return self.tokens[0].location


# NUL, and the surrogates no UTF-8 text holds (os.environ decodes stray bytes into them).
_NOT_TEXT = re.compile("[\0\ud800-\udfff]")
_PLACEHOLDER = re.compile(
    r"\{(?:\$(?P<dollar>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<default>[^}]*))?"
    r"|env\.(?P<env>[A-Za-z_][A-Za-z0-9_]*))\}"
)


def tokenize(
    text: str, file: str, environ: Mapping[str, str], errors: list[ConfigError]
) -> list[Line]:
    """Split ``text`` into lines of tokens, located in ``file``.

    Missing environment variables, and values that are not text, are appended to ``errors``
    (the token gets an empty value, so the rest of the file is still checked). An unterminated
    quote, or a NUL character or other non-text in the file (a binary file, most likely), makes
    the rest of the file meaningless, so it raises ``ConfigError`` at that line.
    """
    _check_text(text, file)
    lines: list[Line] = []
    current: list[Token] = []
    line_number = 1
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\n":
            if current:
                lines.append(Line(tuple(current)))
                current = []
            line_number += 1
            position += 1
        elif char.isspace():
            position += 1
        elif char == "#":
            end = text.find("\n", position)
            position = len(text) if end == -1 else end
        else:
            location = Location(file, line_number)
            if char in '"`':
                start = position
                value, position = _read_quoted(text, position, location)
                # A quoted token may span lines; it stays on the logical line it started on.
                line_number += text.count("\n", start, position)
                quoted = True
            else:
                value, position = _read_word(text, position)
                quoted = False
            value, from_environment = _substitute(value, location, environ, errors)
            current.append(Token(value, location, quoted, from_environment))
    if current:
        lines.append(Line(tuple(current)))
    return lines


def _check_text(text: str, file: str) -> None:
    found = _NOT_TEXT.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    if found.group() == "\0":
        message = "this line holds a NUL character, which a Caddyfile may not contain"
    else:
        message = "this line holds text that is not UTF-8; a Caddyfile must be UTF-8 text"
    raise ConfigError(Location(file, line), message)


def _read_word(text: str, start: int) -> tuple[str, int]:
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end], end


def _read_quoted(text: str, start: int, location: Location) -> tuple[str, int]:
    """Read a quoted token starting at its opening quote; return its value and the end offset."""
    quote = text[start]
    position = start + 1
    value: list[str] = []
    while position < len(text):
        char = text[position]
        if char == quote:
            return "".join(value), position + 1
        if quote == '"' and char == "\\" and text[position + 1 : position + 2] in ('"', "\n"):
            char = text[position + 1]
            position += 1
        value.append(char)
        position += 1
    raise ConfigError(
        location, f"unterminated quoted string: the {quote} opened here is never closed"
    )


def _substitute(
    value: str, location: Location, environ: Mapping[str, str], errors: list[ConfigError]
) -> tuple[str, bool]:
    """``value`` with its placeholders replaced, and whether an environment variable's value
    went into it (a placeholder's default is the file's own text, not the environment's)."""
    if "{" not in value:
        return value, False
    from_environment = False

    def replace(match: re.Match[str]) -> str:
        nonlocal from_environment
        name = match.group("dollar") or match.group("env")
        if name in environ:
            value = environ[name]
            if _NOT_TEXT.search(value) is None:
                from_environment = True
                return value
            what = "a NUL character" if "\0" in value else "bytes that are not UTF-8"
            errors.append(
                ConfigError(
                    location,
                    f"environment variable {name} holds {what} (referenced as {match.group(0)})",
                )
            )
            return ""
        if match.group("default") is not None:
            return match.group("default")
        errors.append(
            ConfigError(
                location,
                f"environment variable {name} is not set (referenced as {match.group(0)})",
            )
        )
        return ""

    return _PLACEHOLDER.sub(replace, value), from_environment
