"""``pyjinn init``: create ``functions/NAME/`` from a template, ready for ``pyjinn build``.

Templates live in ``pyjinn/templates/LANG/`` and hold a source file and a ``function.toml``
(Rust and Go: a Cargo package or a Go module, with the manifest); every ``{{name}}`` in them
becomes the function's name, and every ``{{sdk}}`` the directory of pyjinn's SDK for the
language (``sdk/LANG`` in pyjinn's source tree). Each one is a working hello function.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pyjinn.errors import PyjinnError

LANGUAGES = ("c", "zig", "wat", "rust", "go", "assemblyscript", "python")
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER = "{{name}}"
SDK_PLACEHOLDER = "{{sdk}}"
# The SDKs live beside the package, in pyjinn's source tree.
SDK_ROOT = Path(__file__).resolve().parent.parent / "sdk"


class ScaffoldError(PyjinnError):
    """A function cannot be created: a bad name or language, or the directory already exists."""


def create_function(root: Path, name: str, lang: str) -> Path:
    """Create ``root/functions/NAME/`` with a hello function in ``lang`` and return its path.

    Raises ``ScaffoldError`` when the name does not match ``[a-z0-9][a-z0-9_-]*`` (for Rust,
    starting with a letter), the language is not one of ``LANGUAGES``, the language's SDK is not
    there, or the directory already exists (nothing is overwritten).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid function name {name!r}: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (like 'hello' or 'resize-image')"
        )
    if lang not in LANGUAGES:
        raise ScaffoldError(f"unknown language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    if lang == "rust" and name[0].isdigit():
        raise ScaffoldError(
            f"invalid function name {name!r} for Rust: a Cargo package name starts with a letter"
        )
    template = resources.files("pyjinn") / "templates" / lang
    files = dict(_template_files(template))
    replacements = {PLACEHOLDER: name}
    if any(SDK_PLACEHOLDER in text for text in files.values()):
        replacements[SDK_PLACEHOLDER] = str(sdk_directory(lang))

    directory = root / "functions" / name
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError as error:
        raise ScaffoldError(
            f"{directory} already exists; pick another name or remove it "
            "first (nothing was changed)"
        ) from error

    for relative, text in files.items():
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        target = directory.joinpath(*relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return directory


def sdk_directory(lang: str) -> Path:
    """Where pyjinn's SDK for ``lang`` is (``sdk/LANG`` beside the package); raises
    ``ScaffoldError`` when this pyjinn was installed without its source tree."""
    directory = SDK_ROOT / lang
    if not directory.is_dir():
        raise ScaffoldError(
            f"pyjinn's {lang} SDK is not at {directory}: the SDKs ship in pyjinn's source tree "
            "(sdk/), so install pyjinn from a checkout (pip install -e .)"
        )
    return directory


def _template_files(
    directory: Traversable, parents: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every file of a template, as (path parts relative to the template, text)."""
    for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir():
            yield from _template_files(entry, (*parents, entry.name))
        elif entry.is_file():
            yield (*parents, entry.name), entry.read_text(encoding="utf-8")
