"""A project: a Caddyfile and the ``functions/NAME/`` sources beside it that build its modules.

``pyjinn up``, ``dev`` and ``deploy`` build the project's functions whose sources are newer than
their modules before serving or uploading them, then sign the configured functions' modules
when a signing key is configured (the ``signing_key`` global option, else
``PYJINN_SIGNING_KEY``), so a ``policy strict`` server accepts what was just built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pyjinn.config.model import Config
from pyjinn.signing import read_signing_key, sign_file, verify_module
from pyjinn.toolchain.build import FUNCTIONS_DIR, BuildResult, build_function, function_directory
from pyjinn.toolchain.progress import Progress
from pyjinn.toolchain.recipe import RecipeError, default_output, load_recipe

SIGNING_KEY_VARIABLE = "PYJINN_SIGNING_KEY"


def project_root(config: Config) -> Path:
    """The directory of the Caddyfile (where ``functions/`` is looked for)."""
    return config.source.parent if config.source is not None else Path.cwd()


def function_directories(root: Path) -> list[Path]:
    functions = root / FUNCTIONS_DIR
    if not functions.is_dir():
        return []
    return sorted(
        path for path in functions.iterdir() if path.is_dir() and not path.name.startswith(".")
    )


def build_project(
    root: Path,
    *,
    names: Iterable[str] | None = None,
    echo: Callable[[str], None] = print,
    progress: Progress | None = None,
    debug: bool = False,
) -> list[BuildResult]:
    """Build the functions of ``root/functions/`` (all, or ``names``) whose sources changed.
    A project without ``functions/`` builds nothing; a failed build does not stop the others."""
    directories = (
        function_directories(root)
        if names is None
        else [function_directory(root, name) for name in names]
    )
    return [
        build_function(directory, echo=echo, debug=debug, progress=progress)
        for directory in directories
    ]


def function_sources(config: Config) -> dict[str, Path]:
    """For each configured function whose module a recipe of the project writes: the
    directory of its sources, by function name."""
    writers: dict[Path, Path] = {}
    for directory in function_directories(project_root(config)):
        try:
            output = load_recipe(directory).output
        except RecipeError:
            output = default_output(directory)  # building it will say what is wrong
        writers[Path(os.path.abspath(output))] = directory
    found = {}
    for spec in config.functions():
        writer = writers.get(Path(os.path.abspath(spec.module_path)))
        if writer is not None:
            found[spec.name] = writer
    return found


def signing_key_file(config: Config | None) -> Path | None:
    """The configured signing key: the ``signing_key`` option, else the environment's."""
    if config is not None and config.options.signing_key is not None:
        return config.options.signing_key
    given = os.environ.get(SIGNING_KEY_VARIABLE)
    return Path(given) if given else None


def sign_modules(
    config: Config, modules: Iterable[Path], echo: Callable[[str], None] = print
) -> list[Path]:
    """Sign each of ``modules`` that the configured key has not signed yet (none without a
    key); returns those signed. Raises ``SigningError`` for a key or module it cannot use."""
    key_file = signing_key_file(config)
    if key_file is None:
        return []
    key = read_signing_key(key_file)
    signed = []
    for module in modules:
        if not module.is_file() or module.suffix != ".wasm":
            continue
        if verify_module(module.read_bytes(), (key.public_key,)).is_trusted:
            continue
        sign_file(module, key)
        echo(f"Signed {module} with key id {key.key_id}.")
        signed.append(module)
    return signed
