"""The local embedding model: all-MiniLM-L6-v2 (int8 ONNX) from its PyPI package, no download."""

from __future__ import annotations

import numpy
import pytest

from pyjinn.backends.embeddings import local_embedder


@pytest.fixture(scope="module")
def embedder():
    return local_embedder()


def test_texts_become_unit_vectors_of_384_floats(embedder) -> None:
    vectors = embedder.embed(["hello world", "a much longer sentence about invoices and refunds"])
    assert vectors.shape == (2, 384) and vectors.dtype == numpy.float32
    assert numpy.allclose(numpy.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_texts_are_nearer_than_unrelated_ones(embedder) -> None:
    anchor, paraphrase, unrelated = embedder.embed(
        ["I forgot my password", "I can't remember my password", "The train leaves at noon"]
    )
    assert anchor @ paraphrase > 0.7 > anchor @ unrelated


def test_a_batch_embeds_each_text_as_it_would_alone(embedder) -> None:
    batch = embedder.embed(["short", "a considerably longer text with padding effects"])
    alone = embedder.embed(["short"])
    assert numpy.allclose(batch[0], alone[0], atol=1e-4)


def test_no_texts_give_no_vectors(embedder) -> None:
    assert embedder.embed([]).shape == (0, 384)


def test_the_model_is_loaded_once_per_process(embedder) -> None:
    assert local_embedder() is embedder
