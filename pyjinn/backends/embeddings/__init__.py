"""Text embeddings: the contract every embedding backend keeps, and the process's local model.

Embeddings are unit vectors, so the cosine similarity of two of them is their dot product. The
local model is loaded once per process on first use (``local_embedder()``), from files that ship
in registry packages: nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Vectors = npt.NDArray[np.float32]


class EmbeddingsUnavailable(Exception):
    """The model cannot be loaded (its package is missing) or failed."""


class Embedder(Protocol):
    """A model that turns texts into unit vectors of ``dimensions`` floats."""

    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One row per text, each of length 1 (L2)."""
        ...


_local: Embedder | None = None
_lock = threading.Lock()


def local_embedder() -> Embedder:
    """The process's local model (all-MiniLM-L6-v2, int8 ONNX), loaded on first use; raises
    ``EmbeddingsUnavailable`` when its packages are not installed."""
    global _local
    embedder = _local
    if embedder is None:
        with _lock:
            if _local is None:
                from pyjinn.backends.embeddings.minilm import MiniLm

                _local = MiniLm()
            embedder = _local
    return embedder
