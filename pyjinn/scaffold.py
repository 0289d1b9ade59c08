"""``pyjinn init``: create ``functions/NAME/`` from a template, ready for ``pyjinn build``.

Templates live in ``pyjinn/templates/LANG/`` and hold a source file and a ``function.toml``;
every ``{{name}}`` in them becomes the function's name. Each one is a working hello function.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pyjinn.errors import PyjinnError

LANGUAGES = ("c", "zig", "wat", "assemblyscript", "python")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER = "{{name}}"


class ScaffoldError(PyjinnError):
    """A function cannot be created: a bad name or language, or the directory already exists."""


def create_function(root: Path, name: str, lang: str) -> Path:
    """Create ``root/functions/NAME/`` with a hello function in ``lang`` and return its path.

    Raises ``ScaffoldError`` when the name does not match ``[a-z0-9][a-z0-9_-]*``, the language
    is not one of ``LANGUAGES``, or the directory already exists (nothing is overwritten).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid function name {name!r}: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (like 'hello' or 'resize-image')"
        )
    if lang not in LANGUAGES:
        raise ScaffoldError(f"unknown language {lang!r}: expected one of {', '.join(LANGUAGES)}")

    directory = root / "functions" / name
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError as error:
        raise ScaffoldError(
            f"{directory} already exists; pick another name or remove it "
            "first (nothing was changed)"
        ) from error

    template = resources.files("pyjinn") / "templates" / lang
    for entry in sorted(template.iterdir(), key=lambda entry: entry.name):
        if entry.is_file():
            text = entry.read_text(encoding="utf-8").replace(PLACEHOLDER, name)
            (directory / entry.name).write_text(text, encoding="utf-8")
    return directory
