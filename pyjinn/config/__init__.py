"""Caddyfile configuration: text in, frozen, validated ``Config`` out.

The pipeline is one module per step::

    lexer     text -> lines of tokens, environment placeholders substituted
    imports   snippets and ``import`` expanded
    parser    lines -> directive tree (global options, site blocks, nested blocks)
    build     directive tree -> Config (with function, addresses and units for the details)

Every step reports the problems it can recover from and keeps going, so one load lists every
independent mistake; all of them are raised together as ``ConfigErrors``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from pyjinn.config.build import build
from pyjinn.config.diagnostics import in_file_order
from pyjinn.config.files import PathProblem, read_text
from pyjinn.config.imports import expand_imports
from pyjinn.config.lexer import tokenize
from pyjinn.config.model import Config
from pyjinn.config.parser import parse
from pyjinn.config.render import to_dict
from pyjinn.errors import ConfigError, ConfigErrors, Location

__all__ = ["Config", "ConfigErrors", "load", "loads", "to_dict"]


def load(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and check the Caddyfile at ``path``.

    Module files, mounts and ``data_dir`` resolve against the Caddyfile's directory; messages
    name the file as ``path`` was given. ``environ`` (default ``os.environ``) supplies
    ``{$NAME}`` and ``{env.NAME}`` placeholders. Raises ``ConfigErrors`` listing every problem
    found, each as ``FILE:LINE: message``; only a file that cannot be read at all is named
    without a line.
    """
    path = Path(path)
    try:
        text = read_text(path, regular_only=False)
    except PathProblem as problem:
        # Only text that is not UTF-8 has a line to point at; an unreadable file has none.
        where = Location(str(path), problem.line) if problem.line is not None else None
        raise ConfigErrors([ConfigError(where, f"cannot read {path}: {problem}")]) from None
    return _load_text(
        text,
        filename=str(path),
        source=Path(os.path.abspath(path)),
        environ=environ,
    )


def loads(
    text: str,
    *,
    filename: str = "Caddyfile",
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Check Caddyfile ``text`` as if it were the file ``base_dir / filename``.

    ``filename`` is how messages name it; relative paths in it (modules, mounts, imports,
    ``data_dir``) resolve against ``base_dir``. The result's ``source`` is None, since no file
    was read. Raises ``ConfigErrors`` like :func:`load`.
    """
    source = Path(os.path.abspath(Path(base_dir) / filename))
    config = _load_text(text, filename=filename, source=source, environ=environ)
    return replace(config, source=None)


def _load_text(
    text: str, *, filename: str, source: Path, environ: Mapping[str, str] | None
) -> Config:
    environment = os.environ if environ is None else environ
    errors: list[ConfigError] = []
    try:
        lines = tokenize(text, filename, environment, errors)
        lines = expand_imports(
            lines, source=source, display=filename, environ=environment, errors=errors
        )
        document = parse(lines, errors)
    except ConfigError as fatal:
        # Past an unclosed quote or block the rest of the file cannot be read reliably.
        raise ConfigErrors(in_file_order([*errors, fatal])) from None
    config = build(document, file=filename, base_dir=source.parent, source=source, errors=errors)
    if errors:
        raise ConfigErrors(in_file_order(errors))
    return config
