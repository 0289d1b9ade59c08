"""Lines of tokens to a tree of directives, knowing nothing of what the directives mean.

Caddyfile structure, as Caddy defines it: an optional global options block ``{ ... }`` comes
first; then site blocks ``ADDRESS[, ADDRESS...] { ... }``, or, when the file has exactly one site,
its address line followed by its directives without braces. Inside a block every line is a
directive: a name, its arguments, and optionally a ``{`` at the end of the line that opens a
nested block closed by ``}`` on a line of its own.

Blocks nest at most ``MAX_NESTING`` deep: far more than any real file needs, and few enough that
no step that walks the tree recursively can run out of stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyjinn.config.lexer import Line
from pyjinn.errors import ConfigError, Location

_UNTERMINATED = "unterminated block: the '{' opened here is never closed"
MAX_NESTING = 64


@dataclass(frozen=True)
class Directive:
    """One directive: ``name args... [{ block }]``. ``block`` is None when there are no braces.

    ``imported_at`` lists the ``import`` lines it was pasted through, innermost first;
    ``from_environment`` the indexes of the arguments that took an environment variable's value.
    """

    name: str
    args: tuple[str, ...]
    location: Location
    block: tuple[Directive, ...] | None = None
    imported_at: tuple[Location, ...] = ()
    from_environment: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SiteBlock:
    """A site block: its addresses as written, and the directives inside it."""

    addresses: tuple[str, ...]
    location: Location
    body: tuple[Directive, ...]


@dataclass(frozen=True)
class Document:
    """A parsed Caddyfile: the global options block (if any) and the site blocks."""

    options: tuple[Directive, ...] | None
    sites: tuple[SiteBlock, ...]


def parse(lines: list[Line], errors: list[ConfigError]) -> Document:
    """Build the directive tree of a Caddyfile from its (import-expanded) lines.

    Misplaced braces are appended to ``errors`` and parsing goes on; a block that is never
    closed raises ``ConfigError`` at the line that opened it, since everything after it would
    be misread.
    """
    return _Parser(lines, errors).parse_document()


class _Parser:
    def __init__(self, lines: list[Line], errors: list[ConfigError]) -> None:
        self.lines = lines
        self.errors = errors
        self.position = 0

    def parse_document(self) -> Document:
        options: tuple[Directive, ...] | None = None
        if self.lines and self._is_lone_open_brace(self.lines[0]):
            self.position = 1
            options = self._parse_block(self.lines[0], depth=1)
        sites: list[SiteBlock] = []
        while self.position < len(self.lines):
            line = self._next()
            if self._is_lone_open_brace(line):
                self._error(line, "the global options block { ... } must come first in the file")
                self._parse_block(line, depth=1)
            elif line.tokens[0].is_close_brace:
                self._error(line, "unexpected '}' with no block open")
            else:
                site = self._parse_site(line, first=not sites)
                if site is not None:
                    sites.append(site)
        return Document(options, tuple(sites))

    def _parse_site(self, line: Line, *, first: bool) -> SiteBlock | None:
        tokens = list(line.tokens)
        # An address list may continue on the next line after a trailing comma.
        while not tokens[-1].is_open_brace and tokens[-1].text.endswith(",") and self._has_next():
            tokens.extend(self._next().tokens)
        has_brace = tokens[-1].is_open_brace
        words = [token.text for token in (tokens[:-1] if has_brace else tokens)]
        addresses = tuple(part for word in words for part in word.split(",") if part)
        if any(token.is_open_brace or token.is_close_brace for token in tokens[:-1]):
            self._error(line, "a site block starts with its addresses and a '{' ending the line")
            return None
        if has_brace:
            body = self._parse_block(line, depth=1)
        elif first:
            # Caddy's rule: a file with exactly one site may leave out its braces.
            body = self._parse_until_end()
        else:
            self._error(line, f"expected '{{' after the site address {' '.join(words)}")
            return None
        if not addresses:
            self._error(line, "a site block needs an address, like :8080 { ... }")
            return None
        return SiteBlock(addresses, line.location, body)

    def _parse_block(self, opener: Line, depth: int) -> tuple[Directive, ...]:
        """Parse directives up to the ``}`` that closes the block ``opener`` opened, the
        ``depth``-th block of its nest."""
        if depth > MAX_NESTING:
            raise ConfigError(
                opener.location, f"blocks are nested more than {MAX_NESTING} deep here"
            )
        directives: list[Directive] = []
        while self._has_next():
            line = self._next()
            first = line.tokens[0]
            if first.is_close_brace:
                if len(line.tokens) > 1:
                    self._error(line, "'}' must be on a line of its own")
                return tuple(directives)
            directive = self._parse_directive(line, depth)
            if directive is not None:
                directives.append(directive)
        raise ConfigError(opener.location, _UNTERMINATED)

    def _parse_until_end(self) -> tuple[Directive, ...]:
        directives: list[Directive] = []
        while self._has_next():
            line = self._next()
            if line.tokens[0].is_close_brace:
                self._error(line, "unexpected '}' with no block open")
                continue
            directive = self._parse_directive(line, depth=1)
            if directive is not None:
                directives.append(directive)
        return tuple(directives)

    def _parse_directive(self, line: Line, depth: int) -> Directive | None:
        """Parse the directive on ``line``, inside a block nested ``depth`` deep."""
        tokens = line.tokens
        opens_block = tokens[-1].is_open_brace
        words = tokens[:-1] if opens_block else tokens
        block = self._parse_block(line, depth + 1) if opens_block else None
        if any(token.is_open_brace or token.is_close_brace for token in words):
            self._error(
                line,
                "a block opens with '{' at the end of a directive's line and closes with '}' "
                "on a line of its own",
            )
            return None
        if not words:
            self._error(line, "a '{' must end the line of the directive it belongs to")
            return None
        imported_at = tuple(step.location for step in reversed(line.imported_via))
        return Directive(
            name=words[0].text,
            args=tuple(token.text for token in words[1:]),
            location=line.location,
            block=block,
            imported_at=imported_at,
            from_environment=frozenset(
                index for index, token in enumerate(words[1:]) if token.from_environment
            ),
        )

    @staticmethod
    def _is_lone_open_brace(line: Line) -> bool:
        return len(line.tokens) == 1 and line.tokens[0].is_open_brace

    def _has_next(self) -> bool:
        return self.position < len(self.lines)

    def _next(self) -> Line:
        line = self.lines[self.position]
        self.position += 1
        return line

    def _error(self, line: Line, message: str) -> None:
        self.errors.append(ConfigError(line.location, message))
