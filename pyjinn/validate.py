"""``pyjinn validate``: check a Caddyfile and load every module it names, reporting all problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pyjinn.config import load
from pyjinn.errors import ConfigError, ConfigErrors
from pyjinn.runtime import Runtime


@dataclass
class Report:
    """What checking a Caddyfile found: problems (it must not be served) and warnings (it
    loads, but read them), each a ``FILE:LINE: message`` string."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_file(caddyfile: Path) -> Report:
    """Check ``caddyfile`` and load every module it names."""
    try:
        config = load(caddyfile)
    except ConfigErrors as errors:
        return Report([str(error) for error in errors.errors])
    except ConfigError as error:
        return Report([str(error)])
    runtime = Runtime(config)
    try:
        return Report(runtime.load_all(), list(config.warnings))
    finally:
        runtime.close()


def validate_file(caddyfile: Path) -> list[str]:
    """Every problem found, one ``FILE:LINE: message`` string each; empty when all is well."""
    return check_file(caddyfile).problems
