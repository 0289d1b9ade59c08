"""Build guest functions: ``functions/NAME/`` sources in, ``functions/NAME.wasm`` out.

- ``recipe``: a function's ``function.toml`` (language, sources, output, flags), checked.
- ``compilers``: C and Zig through the ``ziglang`` wheel, WAT through wasmtime; ``rust`` (cargo)
  and ``go`` (go build) find their toolchains; ``process`` runs a compiler.
- ``build``: ``build_all`` walks ``functions/``, skips up-to-date modules, reports each one.
- ``progress``: a spinner (terminal) or occasional lines (logs) while a long step runs.
- ``project``: the functions of a Caddyfile that sources beside it build; build and sign them.
"""

from pyjinn.toolchain.build import (
    BuildResult,
    build_all,
    build_function,
    function_directory,
    is_up_to_date,
)
from pyjinn.toolchain.compilers import CompileFailed
from pyjinn.toolchain.progress import Progress, TerminalProgress
from pyjinn.toolchain.recipe import Recipe, RecipeError, ToolchainError, load_recipe

__all__ = [
    "BuildResult",
    "CompileFailed",
    "Progress",
    "Recipe",
    "RecipeError",
    "TerminalProgress",
    "ToolchainError",
    "build_all",
    "build_function",
    "function_directory",
    "is_up_to_date",
    "load_recipe",
]
