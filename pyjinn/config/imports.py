"""Snippets and ``import``: paste tokens from a named snippet or another file.

Follows Caddy: a top-level ``(name) { ... }`` defines a snippet, and a line ``import NAME
[ARGS...]`` anywhere is replaced by that snippet's lines, or, when no snippet of that name is
defined above it, by the lines of the file NAME (relative to the importing file's directory).
``{args[N]}`` (or Caddy 2.6's ``{args.N}``) inside the pasted tokens becomes the import's N-th
argument, and a token ``{args[A:B]}`` becomes arguments A to B-1 (``{args[:]}``: all of them).

Pasted lines keep their own file and line, so errors point at the snippet or file that holds the
mistake, and each line remembers the imports it came through.

Imports nest at most ``MAX_IMPORT_DEPTH`` deep, and all of them together paste at most
``MAX_PASTED_LINES`` lines, so a chain of snippets that each import the next twice cannot make the
loader's work grow without bound; past either limit the load stops with that error.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pyjinn.config.files import PathProblem, read_text, resolve
from pyjinn.config.lexer import ImportStep, Line, Token, tokenize
from pyjinn.errors import ConfigError, Location

_SNIPPET_HEADER = re.compile(r"\((?P<name>[^()\s]+)\)")
# {args[N]} (Caddy 2.7+) and {args.N} (Caddy 2.6 and before) inside any token.
_ARGUMENT = re.compile(r"\{args(?:\[(?P<index>[^\]{}]*)\]|\.(?P<old>\d+))\}")
# {args[A:B]} as a whole token: arguments A to B-1 (Caddy 2.7+).
_VARIADIC = re.compile(r"\{args\[(?P<start>\d{0,9}):(?P<end>\d{0,9})\]\}")
MAX_IMPORT_DEPTH = 32
MAX_PASTED_LINES = 200_000


@dataclass(frozen=True)
class _Snippet:
    lines: tuple[Line, ...]
    location: Location


def expand_imports(
    lines: list[Line],
    *,
    source: Path,
    display: str,
    environ: Mapping[str, str],
    errors: list[ConfigError],
) -> list[Line]:
    """Return ``lines`` with snippet definitions removed and every ``import`` line expanded.

    ``source`` is the absolute path of the file ``lines`` came from (imports resolve against its
    directory); ``display`` is how that file is named in messages. Recoverable problems go to
    ``errors``; an unterminated snippet, a bad quote in an imported file, or imports nested or
    pasting past their limits raise ``ConfigError``.
    """
    root = ImportStep(key=str(source), label=display, location=Location(display, 1))
    expander = _Expander(environ, errors)
    return expander.expand(lines, source.parent, os.path.dirname(display), (root,), True)


class _Expander:
    def __init__(self, environ: Mapping[str, str], errors: list[ConfigError]) -> None:
        self.environ = environ
        self.errors = errors
        # Shared by every file of one load: a snippet defined in an imported file is
        # available to the importer afterwards, as in Caddy.
        self.snippets: dict[str, _Snippet] = {}
        self.pasted = 0

    def expand(
        self,
        lines: list[Line] | tuple[Line, ...],
        directory: Path,
        display_dir: str,
        chain: tuple[ImportStep, ...],
        top_level: bool,
    ) -> list[Line]:
        """Expand ``lines`` that arrived through ``chain`` (whose first step is the root file)."""
        expanded: list[Line] = []
        depth = 0
        index = 0
        while index < len(lines):
            line = lines[index]
            index += 1
            first = line.tokens[0]
            if top_level and depth == 0 and self._is_snippet_header(line):
                index = self._define_snippet(line, lines, index)
            elif first.text == "import" and not first.quoted and line.tokens[-1].is_open_brace:
                self._error(
                    line,
                    "import with a block (Caddy 2.8's {block} in snippets) is not supported; "
                    "pass what differs as arguments: import NAME ARG...",
                )
                index = _after_block(lines, index)
            elif first.text == "import" and not first.quoted:
                expanded.extend(
                    self._import(line, directory, display_dir, chain, top_level and depth == 0)
                )
            else:
                if first.is_close_brace:
                    depth -= 1
                if line.tokens[-1].is_open_brace:
                    depth += 1
                expanded.append(replace(line, imported_via=chain[1:]))
        return expanded

    @staticmethod
    def _is_snippet_header(line: Line) -> bool:
        first = line.tokens[0]
        return not first.quoted and _SNIPPET_HEADER.fullmatch(first.text) is not None

    def _define_snippet(
        self, header: Line, lines: list[Line] | tuple[Line, ...], index: int
    ) -> int:
        """Record the snippet opened by ``header``; return the index after its closing brace."""
        name = header.tokens[0].text[1:-1]
        well_formed = len(header.tokens) == 2 and header.tokens[1].is_open_brace
        if not well_formed:
            self.errors.append(
                ConfigError(header.location, "a snippet is defined like: (name) { ... }")
            )
            if not header.tokens[-1].is_open_brace:
                return index
            # Still skip its block, so its lines are not misread as sites.
        depth = 1
        start = index
        while index < len(lines):
            line = lines[index]
            index += 1
            if line.tokens[0].is_close_brace:
                depth -= 1
            if line.tokens[-1].is_open_brace:
                depth += 1
            if depth == 0:
                break
        else:
            raise ConfigError(
                header.location, "unterminated block: the '{' opened here is never closed"
            )
        previous = self.snippets.get(name)
        if not well_formed:
            return index
        if previous is not None:
            self.errors.append(
                ConfigError(
                    header.location,
                    f"snippet '{name}' is defined twice ({previous.location} and "
                    f"{header.location})",
                )
            )
        self.snippets[name] = _Snippet(tuple(lines[start : index - 1]), header.location)
        return index

    def _import(
        self,
        line: Line,
        directory: Path,
        display_dir: str,
        chain: tuple[ImportStep, ...],
        top_level: bool,
    ) -> list[Line]:
        arguments = [token.text for token in line.tokens[1:]]
        if not arguments or line.tokens[-1].is_open_brace:
            self._error(line, "import expects a snippet name or a file path, like: import common")
            return []
        target, arguments = arguments[0], arguments[1:]
        if any(char in target for char in "*?["):
            self._error(
                line,
                f"import of a glob pattern ({target}) is not supported; import each file by name",
            )
            return []
        self._charge(line, 1)  # an import that pastes nothing still costs work
        if len(chain) > MAX_IMPORT_DEPTH:
            raise ConfigError(
                line.location, f"imports are nested more than {MAX_IMPORT_DEPTH} deep here"
            )
        snippet = self.snippets.get(target)
        if snippet is not None:
            step = ImportStep(f"snippet:{target}", f"snippet '{target}'", line.location)
            if self._closes_cycle(line, step, chain):
                return []
            body = self.expand(snippet.lines, directory, display_dir, (*chain, step), top_level)
            return self._paste(line, target, body, arguments)

        display = os.path.normpath(os.path.join(display_dir, target))
        try:
            path = resolve(directory, target)
            step = ImportStep(str(path), display, line.location)
            if self._closes_cycle(line, step, chain):
                return []
            text = read_text(path)
        except PathProblem as problem:
            if problem.missing:
                self._error(
                    line,
                    f"cannot import '{target}': no snippet of that name is defined above this "
                    f"line, and no file {display} exists",
                )
            else:
                self._error(line, f"cannot import file {display}: {problem}")
            return []
        lines = tokenize(text, display, self.environ, self.errors)
        body = self.expand(lines, path.parent, os.path.dirname(display), (*chain, step), top_level)
        return self._paste(line, target, body, arguments)

    def _paste(self, line: Line, target: str, body: list[Line], arguments: list[str]) -> list[Line]:
        """``body`` with the import's arguments in place, counted against the paste budget."""
        self._charge(line, len(body))
        return self._with_arguments(line, target, body, arguments)

    def _charge(self, line: Line, lines: int) -> None:
        """Count ``lines`` against ``MAX_PASTED_LINES``; past it, stop the whole load."""
        self.pasted += lines
        if self.pasted > MAX_PASTED_LINES:
            raise ConfigError(
                line.location,
                f"imports paste more than {MAX_PASTED_LINES} lines in all (does a snippet "
                "import another several times, which imports another several times...?)",
            )

    def _closes_cycle(self, line: Line, step: ImportStep, chain: tuple[ImportStep, ...]) -> bool:
        keys = [previous.key for previous in chain]
        if step.key not in keys:
            return False
        cycle = [previous.label for previous in chain[keys.index(step.key) :]] + [step.label]
        self._error(line, "import cycle: " + " -> ".join(cycle))
        return True

    def _with_arguments(
        self, line: Line, target: str, lines: tuple[Line, ...] | list[Line], arguments: list[str]
    ) -> list[Line]:
        """Replace ``{args[N]}`` (or Caddy 2.6's ``{args.N}``) in the pasted tokens with the
        import's N-th argument, and a token that is exactly ``{args[A:B]}`` (either bound may
        be left out) with the arguments A to B-1, one token each.

        Runs after the pasted lines are expanded, so snippets defined in an imported file keep
        their own placeholders for their own imports.
        """
        problems: list[str] = []
        # Which arguments took an environment variable's value: what they fill in does too.
        from_environment = [token.from_environment for token in line.tokens[2:]]
        took_environment = [False]  # of the token being substituted

        def secret(number: int) -> bool:
            return number < len(from_environment) and from_environment[number]

        def argument(match: re.Match[str]) -> str:
            index = match.group("index") if match.group("index") is not None else match.group("old")
            if ":" in index:
                problems.append(f"{{args[{index}]}} must be a token on its own")
                return ""
            digits = index.lstrip("0") or "0"
            if index.isdigit() and len(digits) <= 9 and int(digits) < len(arguments):
                took_environment[0] |= secret(int(digits))
                return arguments[int(digits)]
            if not index.isdigit():
                problems.append(f"{match.group(0)} is not an argument index")
            else:
                given = f"{len(arguments)} argument" + ("" if len(arguments) == 1 else "s")
                problems.append(f"passes {given}, but it uses {match.group(0)}")
            return ""

        def substitute(token: Token) -> list[Token]:
            whole = _VARIADIC.fullmatch(token.text)
            if whole is not None:
                bounds = self._bounds(whole, len(arguments), problems)
                if bounds is None:
                    return []
                return [
                    replace(token, text=arguments[number], from_environment=secret(number))
                    for number in range(*bounds)
                ]
            took_environment[0] = token.from_environment
            text = _ARGUMENT.sub(argument, token.text)
            return [replace(token, text=text, from_environment=took_environment[0])]

        result: list[Line] = []
        for each in lines:
            if not any("{args" in token.text for token in each.tokens):
                result.append(each)
                continue
            tokens = tuple(new for token in each.tokens for new in substitute(token))
            if tokens:
                result.append(replace(each, tokens=tokens))
        for problem in dict.fromkeys(problems):
            prefix = f"import {target} " if problem.startswith("passes") else f"import {target}: "
            self._error(line, prefix + problem)
        return result

    @staticmethod
    def _bounds(match: re.Match[str], count: int, problems: list[str]) -> tuple[int, int] | None:
        start_text, end_text = match.group("start"), match.group("end")
        start = int(start_text) if start_text else 0
        end = int(end_text) if end_text else count
        if start > end or end > count:
            given = f"{count} argument" + ("" if count == 1 else "s")
            problems.append(f"passes {given}, but it uses {match.group(0)}")
            return None
        return start, end

    def _error(self, line: Line, message: str) -> None:
        self.errors.append(ConfigError(line.location, message))


def _after_block(lines: list[Line] | tuple[Line, ...], index: int) -> int:
    """The index after the block whose opening line came just before ``index``."""
    depth = 1
    while index < len(lines) and depth:
        line = lines[index]
        index += 1
        if line.tokens[0].is_close_brace:
            depth -= 1
        if line.tokens[-1].is_open_brace:
            depth += 1
    return index
