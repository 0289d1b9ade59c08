"""Build guest functions: ``functions/NAME/`` sources in, ``functions/NAME.wasm`` out.

- ``recipe``: a function's ``function.toml`` (language, sources, output, flags), checked.
- ``compilers``: C and Zig through the ``ziglang`` wheel, WAT through wasmtime; ``rust`` (cargo)
  and ``go`` (go build) find their toolchains; ``process`` runs a compiler.
- ``build``: ``build_all`` walks ``functions/``, skips up-to-date modules, reports each one.
- ``progress``: what a slow compile is doing, shown on a terminal.
"""

from pyjinn.toolchain.build import BuildResult, build_all, build_function, is_up_to_date
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
    "is_up_to_date",
    "load_recipe",
]
