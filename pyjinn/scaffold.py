"""``pyjinn init``: a project a user can run at once.

``create_project(root, NAME, lang)`` writes:

- ``functions/NAME/`` from the template ``pyjinn/templates/LANG/`` (its files, subdirectories
  included): the source, using the language's SDK, and its ``function.toml`` recipe; every
  ``{{name}}`` becomes the name, and every ``{{sdk}}`` the directory of pyjinn's SDK for the
  language (a template that refers to the SDK where it is rather than copying it);
- the SDK files (or directories) the template's ``template.toml`` lists, copied into the
  project's ``sdk/`` (left alone when they exist), so the project builds on its own; ``{{sdk}}``
  then names that copy, ``../../sdk/LANG`` from the function's directory;
- a route ``handle /NAME { pyjinn functions/NAME.wasm }`` in the project's Caddyfile, added to
  its first site, or a new Caddyfile when there is none;
- a ``.gitignore`` for build output and ``data/`` (lines added to an existing one).

Languages are the template directories: a language is added by adding its directory (and, to
copy SDK files, a ``template.toml``) and its compiler, nothing here. ``TEMPLATES`` are the
kinds of function (``http``; ``job`` runs every request as a durable job; ``actor`` holds a
WebSocket connection; ``tool`` is also an MCP tool). A kind other than ``http`` may bring its
own source: the template's ``[kinds.KIND]`` table maps a file of the hello function to the
template file that takes its place (``"main.c" = "actor.c"``); such files are copied only for
their kind.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pyjinn.errors import ConfigError, PyjinnError
from pyjinn.toolchain.recipe import LANGUAGES as BUILD_LANGUAGES
from pyjinn.toolchain.recipe import OUTPUT_SUFFIXES

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER = "{{name}}"
SDK_PLACEHOLDER = "{{sdk}}"
TEMPLATE_FILE = "template.toml"
# Kinds of function: the lines their route's pyjinn block gets.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "http": (),
    "job": ("async",),
    # One sandbox per connection: timeout is the idle time between messages, max_duration the
    # connection's whole life.
    "actor": ("timeout 5m", "max_duration 1h", "permissions {", "\twebsocket", "}"),
    # The hello function as a tool of the site's MCP endpoint (/mcp).
    "tool": ("ai_tool {", '\tdescription "Say hello from the pyjinn function {{name}}"', "}"),
}
GITIGNORE_LINES = (
    "functions/*.wasm", "functions/.*.wasm.*", "functions/*.pyz", "data/", ".zig-cache/",
    ".target/", "node_modules/",
)  # fmt: skip
DEFAULT_SITE = ":8080"


def _templates() -> Traversable:
    return resources.files("pyjinn") / "templates"


def available_languages() -> tuple[str, ...]:
    """Every language with a template: those ``pyjinn build`` knows in its order, then others
    in name order."""
    found = [
        entry.name
        for entry in _templates().iterdir()
        if entry.is_dir() and not entry.name.startswith(("_", "."))
    ]
    order = {lang: index for index, lang in enumerate(BUILD_LANGUAGES)}
    return tuple(sorted(found, key=lambda lang: (order.get(lang, len(order)), lang)))


LANGUAGES = available_languages()


class ScaffoldError(PyjinnError):
    """A function cannot be created: a bad name or language, or the directory already exists."""


@dataclass
class Created:
    """What ``create_project`` wrote or changed, for the command to report."""

    function_dir: Path
    files: list[Path] = field(default_factory=list)
    caddyfile: Path | None = None
    caddyfile_created: bool = False
    route: str | None = None
    notes: list[str] = field(default_factory=list)


def create_function(
    root: Path, name: str, lang: str, *, copied_sdk: bool = False, template: str = "http"
) -> Path:
    """Create ``root/functions/NAME/`` with a function of the kind ``template`` (a hello
    function by default) in ``lang`` and return its path. ``copied_sdk``: the SDK is copied into
    ``root/sdk`` (by ``create_project``), and the template's ``{{sdk}}`` names that copy.

    Raises ``ScaffoldError`` when the name does not match ``[a-z0-9][a-z0-9_-]*`` (for Rust,
    starting with a letter), the language has no template or none of that kind, or the
    directory already exists (nothing is overwritten).
    """
    _check(name, lang, template)
    files = _kind_files(lang, template)
    replacements = {PLACEHOLDER: name}
    if any(SDK_PLACEHOLDER in text for text in files.values()):
        # A project made by create_project has its own copy; a lone function uses pyjinn's.
        copied = copied_sdk and bool(_sdk_entries(lang))
        replacements[SDK_PLACEHOLDER] = f"../../sdk/{lang}" if copied else str(sdk_directory(lang))
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


def _template_files(
    directory: Traversable, parents: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every file of a template but its ``template.toml`` (and the bytecode Python may have
    cached beside a Python template): (path parts, text)."""
    for entry in sorted(directory.iterdir(), key=lambda entry: entry.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            yield from _template_files(entry, (*parents, entry.name))
        elif entry.is_file() and (parents or entry.name != TEMPLATE_FILE):
            yield (*parents, entry.name), entry.read_text(encoding="utf-8")


def _kind_files(lang: str, template: str) -> dict[tuple[str, ...], str]:
    """The files of ``lang``'s template for the kind ``template``: the hello function's, with
    the kind's replacements in place and every kind's own files left out."""
    files = dict(_template_files(_templates() / lang))
    kinds = _kinds(lang)
    for replacements in kinds.values():
        for source in replacements.values():
            files.pop(tuple(source.split("/")), None)
    for target, source in kinds.get(template, {}).items():
        files[tuple(target.split("/"))] = (_templates() / lang / source).read_text(encoding="utf-8")
    return files


def create_project(root: Path, name: str, lang: str, template: str = "http") -> Created:
    """Everything ``pyjinn init`` writes (see the module's docstring); raises
    ``ScaffoldError`` before writing anything when the name, language or template is bad or
    the function exists."""
    _check(name, lang, template)
    caddyfile = root / "Caddyfile"
    text = caddyfile.read_text(encoding="utf-8") if caddyfile.is_file() else None
    created = Created(create_function(root, name, lang, copied_sdk=True, template=template))
    created.files = sorted(p for p in created.function_dir.rglob("*") if p.is_file())
    created.files += _copy_sdk(root, lang)
    created.caddyfile = caddyfile
    created.route = f"/{name}"
    module = f"functions/{name}{OUTPUT_SUFFIXES.get(lang, '.wasm')}"
    block = "\n".join(
        [
            f"\thandle /{name} {{",
            f"\t\tpyjinn {module}" + (" {" if TEMPLATES[template] else ""),
            *(f"\t\t\t{line.replace(PLACEHOLDER, name)}" for line in TEMPLATES[template]),
            *(["\t\t}"] if TEMPLATES[template] else []),
            "\t}",
        ]
    )
    if text is None:
        caddyfile.write_text(_new_caddyfile(block), encoding="utf-8")
        created.caddyfile_created = True
    elif module in text:
        created.notes.append(f"{caddyfile} already names {module}; left as it is")
        created.route = None
    else:
        caddyfile.write_text(_with_route(text, caddyfile, block), encoding="utf-8")
    _extend_gitignore(root / ".gitignore")
    return created


def _check(name: str, lang: str, template: str = "http") -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid function name {name!r}: use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit (like 'hello' or 'resize-image')"
        )
    if lang not in available_languages():
        raise ScaffoldError(
            f"unknown language {lang!r}: expected one of {', '.join(available_languages())}"
        )
    if lang == "rust" and name[0].isdigit():
        raise ScaffoldError(
            f"invalid function name {name!r} for Rust: a Cargo package name starts with a letter"
        )
    if template not in TEMPLATES:
        raise ScaffoldError(
            f"unknown template {template!r}: expected one of {', '.join(TEMPLATES)}"
        )
    # A kind with a source of its own (some template.toml's [kinds]) needs this language's.
    offered = [other for other in available_languages() if template in _kinds(other)]
    if offered and lang not in offered:
        raise ScaffoldError(
            f"the {template} template is not available in {lang}: use --lang "
            f"{' or --lang '.join(offered)}"
        )


def sdk_root() -> Path:
    """pyjinn's SDKs: ``sdk/`` beside the package in a source checkout."""
    return Path(__file__).resolve().parent.parent / "sdk"


def sdk_directory(lang: str) -> Path:
    """Where pyjinn's SDK for ``lang`` is (``sdk/LANG`` beside the package); raises
    ``ScaffoldError`` when this pyjinn was installed without its source tree."""
    directory = sdk_root() / lang
    if not directory.is_dir():
        raise ScaffoldError(
            f"pyjinn's {lang} SDK is not at {directory}: the SDKs ship in pyjinn's source tree "
            "(sdk/), so install pyjinn from a checkout (pip install -e .)"
        )
    return directory


def _manifest(lang: str) -> dict[str, Any]:
    """The template's ``template.toml`` of ``lang`` (empty without one)."""
    manifest = _templates() / lang / TEMPLATE_FILE
    if not manifest.is_file():
        return {}
    with manifest.open("rb") as file:
        return tomllib.load(file)


def _kinds(lang: str) -> dict[str, dict[str, str]]:
    kinds: dict[str, dict[str, str]] = _manifest(lang).get("kinds", {})
    return kinds


def _sdk_entries(lang: str) -> list[str]:
    """The SDK files and directories (relative to ``sdk/``) the template of ``lang`` copies."""
    return [str(entry) for entry in _manifest(lang).get("sdk", [])]


def _copy_sdk(root: Path, lang: str) -> list[Path]:
    copied = []
    for relative in _sdk_entries(lang):
        source = sdk_root() / relative
        if not source.exists():
            raise ScaffoldError(
                f"the {lang} SDK file {relative} is not in {sdk_root()}; pyjinn init needs "
                "pyjinn's source checkout (pip install -e)"
            )
        files = [source] if source.is_file() else sorted(p for p in source.rglob("*"))
        for path in files:
            if not path.is_file() or any(
                part.startswith(".") or part == "target"
                for part in path.relative_to(sdk_root()).parts
            ):
                continue
            target = root / "sdk" / path.relative_to(sdk_root())
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
                copied.append(target)
    return copied


def _new_caddyfile(block: str) -> str:
    return (
        "# Written by pyjinn init. `pyjinn dev` serves it, and rebuilds and reloads what you\n"
        "# change; `pyjinn up` serves it in production. Paths are relative to this file.\n"
        "{\n\tadmin 127.0.0.1:2019\n\tdata_dir ./data\n}\n\n"
        f"{DEFAULT_SITE} {{\n{block}\n}}\n"
    )


def _with_route(text: str, caddyfile: Path, block: str) -> str:
    """``text`` with ``block`` as the first route of its first site (or a new site)."""
    from pyjinn.config.lexer import tokenize
    from pyjinn.config.parser import parse

    errors: list[ConfigError] = []
    try:
        document = parse(tokenize(text, str(caddyfile), {}, []), errors)
    except ConfigError as error:
        raise ScaffoldError(
            f"cannot add the route to {caddyfile}: {error}; the function was created, add "
            f"this to a site yourself:\n{block}"
        ) from None
    if not document.sites:
        return text.rstrip("\n") + f"\n\n{DEFAULT_SITE} {{\n{block}\n}}\n"
    lines = text.splitlines(keepends=True)
    opening = document.sites[0].location.line  # the site's `{` ends this line
    if not lines[opening - 1].split("#")[0].rstrip().endswith("{"):
        raise ScaffoldError(
            f"cannot add the route to {caddyfile}: its first site does not open a block on "
            f"line {opening}; the function was created, add this to a site yourself:\n{block}"
        )
    return "".join([*lines[:opening], block + "\n", *lines[opening:]])


def _extend_gitignore(path: Path) -> None:
    present = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [line for line in GITIGNORE_LINES if line not in present]
    if not missing:
        return
    header = [] if present else ["# Build output and pyjinn's state (written by pyjinn init)."]
    text = "\n".join([*present, *header, *missing]) + "\n"
    path.write_text(text, encoding="utf-8")
