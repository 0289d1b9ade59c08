"""Caddyfile text to lines of tokens, with environment placeholders already substituted.

The Caddyfile is line-oriented: a directive ends where its line ends, unless a quoted string
spans lines. So the lexer hands out :class:`Line` objects rather than a flat token stream, and
the parser never has to count newlines.

Quoting follows Caddy's lexer (see :class:`_Lexer`): ``"double quotes"`` where only ``\\"`` is
an escape, ```backticks``` with no escapes at all, heredocs (``<<EOF`` ... ``EOF``), and a
backslash at the end of a line continuing it. A quote only opens at the start of a token. ``#``
starts a comment only at the start of a token, so ``a#b`` is one word.

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
    quote or heredoc, a malformed heredoc, or a NUL character or other non-text in the file
    (a binary file, most likely) makes the rest of the file meaningless, so it raises
    ``ConfigError`` at that line.
    """
    _check_text(text, file)
    lexer = _Lexer(text.removeprefix("\ufeff"), file)
    lines: list[Line] = []
    current: list[Token] = []
    while (found := lexer.next_token()) is not None:
        token, new_line = found
        if new_line and current:
            lines.append(Line(tuple(current)))
            current = []
        value, from_environment = _substitute(token.text, token.location, environ, errors)
        current.append(Token(value, token.location, token.quoted, from_environment))
    if current:
        lines.append(Line(tuple(current)))
    return lines


_HEREDOC_MARKER = re.compile(r"[A-Za-z0-9_-]+")


class _Lexer:
    """Caddy's lexer, one token at a time.

    Outside quotes, a backslash escapes the next character: before a newline it continues the
    logical line, before ``<`` it stops a heredoc, before anything else it is kept. Inside
    double quotes a backslash is kept except before a quote (so ``"x\\\\"`` is ``x\\\\``, and a
    backslash before a newline stays). Backticks take everything literally. ``<<MARKER`` at
    the end of a line opens a heredoc, closed by ``MARKER``; the whitespace before the closing
    marker is removed from every line.
    """

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.position = 0
        self.line = 1  # the physical line of the next character
        self.new_line = True  # whether a line ended (unescaped) since the last token

    def next_token(self) -> tuple[Token, bool] | None:
        """The next token and whether a logical line ended before it; None at the end."""
        text = self.text
        value: list[str] = []
        start_line = self.line
        comment = quoted = backticked = escaped = heredoc_escaped = False
        while self.position < len(text):
            char = text[self.position]
            self.position += 1
            if not (quoted or backticked or heredoc_escaped) and value[:2] == ["<", "<"]:
                if char == " ":
                    return self._make(value, start_line, quoted=False)
                if char == "\r":
                    continue
                if char == "\n":
                    self.line += 1
                    return self._heredoc(value, start_line)
                value.append(char)
                continue
            if not escaped and not backticked and char == "\\":
                escaped = True
                continue
            if quoted or backticked:
                if quoted and escaped:
                    if char != '"':
                        value.append("\\")
                    escaped = False
                elif (quoted and char == '"') or (backticked and char == "`"):
                    return self._make(value, start_line, quoted=True)
                if char == "\n":
                    self.line += 1
                value.append(char)
                continue
            if char.isspace():
                ends_line = False
                if char == "\n":
                    self.line += 1
                    ends_line = not escaped  # an escaped newline continues the line
                    escaped = comment = False
                token = self._make(value, start_line, quoted=False) if value else None
                self.new_line |= ends_line
                if token is not None:
                    return token
                continue
            if char == "#" and not value:
                comment = True
            if comment:
                continue
            if not value:
                start_line = self.line
                if char == '"':
                    quoted = True
                    continue
                if char == "`":
                    backticked = True
                    continue
            if escaped:
                if char == "<":
                    heredoc_escaped = True
                else:
                    value.append("\\")
                escaped = False
            value.append(char)
        if quoted or backticked:
            quote = '"' if quoted else "`"
            raise ConfigError(
                Location(self.file, start_line),
                f"unterminated quoted string: the {quote} opened here is never closed",
            )
        if value:
            return self._make(value, start_line, quoted=False)
        return None

    def _make(self, value: list[str], line: int, *, quoted: bool) -> tuple[Token, bool]:
        new_line, self.new_line = self.new_line, False
        return Token("".join(value), Location(self.file, line), quoted), new_line

    def _heredoc(self, opener: list[str], line: int) -> tuple[Token, bool]:
        """Read a heredoc whose opening ``<<MARKER`` (in ``opener``) ended a line."""
        where = Location(self.file, line)
        marker = "".join(opener[2:])
        if not marker:
            raise ConfigError(
                where, "a heredoc needs a marker after <<, like <<EOF, ended by EOF on its own"
            )
        if marker.startswith("<"):
            raise ConfigError(where, "too many '<' for a heredoc: use two, like <<EOF")
        if not _HEREDOC_MARKER.fullmatch(marker):
            raise ConfigError(
                where,
                f"invalid heredoc marker '{marker}': use letters, digits, '-' and '_', like <<EOF",
            )
        text = self.text
        content_start = self.position
        while self.position < len(text):
            char = text[self.position]
            self.position += 1
            if char == "\n":
                self.line += 1
            if text.endswith(marker, content_start, self.position):
                body = text[content_start : self.position - len(marker)]
                return self._make(list(_unindent(body, marker, where)), line, quoted=True)
        raise ConfigError(
            where, f"unterminated heredoc: <<{marker} opened here is never closed by {marker}"
        )


def _unindent(body: str, marker: str, where: Location) -> str:
    """The heredoc ``body`` (up to its closing marker) without the closing line's indentation
    on each line, and without its last newline."""
    last_newline = body.rfind("\n")
    padding = body[last_newline + 1 :]
    out: list[str] = []
    for number, line in enumerate(body[: last_newline + 1].split("\n")[:-1], start=1):
        if line in ("", "\r"):
            out.append("\n")
            continue
        if not line.startswith(padding):
            raise ConfigError(
                where,
                f"heredoc <<{marker}: line {number} of its text does not start with the "
                f"{len(padding)} whitespace characters before the closing {marker}",
            )
        out.append((line[len(padding) :] + "\n").replace("\r", ""))
    return "".join(out).removesuffix("\n")


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
