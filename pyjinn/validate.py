"""``pyjinn validate``: check a Caddyfile and load every module it names, reporting all problems."""

from __future__ import annotations

from pathlib import Path

from pyjinn.config import load
from pyjinn.errors import ConfigError, ConfigErrors
from pyjinn.runtime import Runtime


def validate_file(caddyfile: Path) -> list[str]:
    """Every problem found, one ``FILE:LINE: message`` string each; empty when all is well."""
    try:
        config = load(caddyfile)
    except ConfigErrors as errors:
        return [str(error) for error in errors.errors]
    except ConfigError as error:
        return [str(error)]
    runtime = Runtime(config)
    try:
        return runtime.load_all()
    finally:
        runtime.close()
