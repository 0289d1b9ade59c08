"""The answer cache: ``ai_cache exact|semantic [THRESHOLD] [TTL] [MAX_ENTRIES]``.

Answers are kept per tenant and model, at most ``max_entries`` of each, for ``ttl`` seconds, the
least recently used leaving first: no tenant ever sees another's answers, and memory is bounded
by configuration. A request is split in two:

- its *context*: the model parameters (``max_tokens``, ``temperature``, ``response_format``) and
  every message but the last, which must match exactly;
- its *question*: the last message's text.

``exact`` reuses an answer when the question matches too. ``semantic`` also reuses one whose
question's embedding (local model) is within cosine ``threshold`` of this one's, the nearest
first. Lookups are one matrix product over a tenant's entries (measured at 10,000 entries by
the benchmark suite's AI part, bench/ai.py); an exact match never needs an embedding.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyjinn.backends.embeddings import Embedder
from pyjinn.backends.llm import ChatAnswer, ChatRequest
from pyjinn.config.model import AiCache


@dataclass(frozen=True, slots=True)
class CacheKey:
    """A request as the cache sees it."""

    context: bytes  # digest of the parameters and every message but the last
    exact: bytes  # digest of the context and the question
    question: str


def cache_key(request: ChatRequest) -> CacheKey:
    """Split ``request`` into its context and question (see the module docstring)."""
    *earlier, last = request.messages
    context = json.dumps(
        [request.max_tokens, request.temperature, request.response_format, earlier, last["role"]],
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    context_digest = hashlib.sha256(context).digest()
    question = last["content"]
    exact = hashlib.sha256(context_digest + question.encode()).digest()
    return CacheKey(context_digest, exact, question)


class _Shelf:
    """One tenant's answers from one model: slots in a fixed-size matrix, in LRU order."""

    def __init__(self, capacity: int, dimensions: int) -> None:
        import numpy

        self.numpy = numpy
        self.capacity = capacity
        self.vectors = numpy.zeros((capacity, dimensions), numpy.float32)
        self.contexts: list[bytes | None] = [None] * capacity
        self.expires = numpy.full(capacity, -numpy.inf)
        self.answers: list[ChatAnswer | None] = [None] * capacity
        self.by_exact: dict[bytes, int] = {}
        self.exact_of: list[bytes | None] = [None] * capacity
        self.order: OrderedDict[int, None] = OrderedDict()  # least recently used first
        self.free = list(range(capacity - 1, -1, -1))

    def _release(self, slot: int) -> None:
        exact = self.exact_of[slot]
        if exact is not None and self.by_exact.get(exact) == slot:
            del self.by_exact[exact]
        self.exact_of[slot] = self.contexts[slot] = self.answers[slot] = None
        self.expires[slot] = -self.numpy.inf
        self.order.pop(slot, None)
        self.free.append(slot)

    def exact(self, key: CacheKey, now: float) -> ChatAnswer | None:
        slot = self.by_exact.get(key.exact)
        if slot is None:
            return None
        if self.expires[slot] <= now:
            self._release(slot)
            return None
        self.order.move_to_end(slot)
        return self.answers[slot]

    def nearest(
        self, key: CacheKey, vector: Any, threshold: float, now: float
    ) -> tuple[ChatAnswer, float] | None:
        if not self.order:
            return None
        numpy = self.numpy
        # einsum's own loop rather than BLAS: a matrix-vector product this size takes about
        # 0.5 ms either way, but BLAS hands it to its threads, which on a loaded machine stalls
        # the tail to tens of ms (measured: p90 27 ms vs 4.5 ms at load 8 on 2 cores).
        scores = numpy.einsum("ij,j->i", self.vectors, vector)
        scores[self.expires <= now] = -numpy.inf
        candidates = numpy.flatnonzero(scores >= threshold)
        for slot in candidates[numpy.argsort(-scores[candidates])]:
            if self.contexts[slot] == key.context:
                self.order.move_to_end(int(slot))
                answer = self.answers[slot]
                assert answer is not None
                return answer, float(scores[slot])
        return None

    def store(self, key: CacheKey, vector: Any, answer: ChatAnswer, expires: float) -> None:
        old = self.by_exact.get(key.exact)
        if old is not None:
            self._release(old)
        if not self.free:
            self._release(next(iter(self.order)))
        slot = self.free.pop()
        self.vectors[slot] = vector if vector is not None else 0.0
        self.contexts[slot] = key.context
        self.exact_of[slot] = key.exact
        self.by_exact[key.exact] = slot
        self.answers[slot] = answer
        self.expires[slot] = expires
        self.order[slot] = None

    def __len__(self) -> int:
        return len(self.order)


@dataclass(frozen=True)
class Hit:
    """A cached answer, and how near its question was (1.0 for an exact match)."""

    answer: ChatAnswer
    score: float


class AnswerCache:
    """Every tenant's cached answers for the functions that share one ``ai_cache`` setting."""

    def __init__(
        self,
        settings: AiCache,
        embedder: Callable[[], Embedder] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``embedder`` gives the model for ``semantic`` (called on first use)."""
        self.settings = settings
        self._embedder = embedder
        self._clock = clock
        self._shelves: dict[tuple[str, str], _Shelf] = {}
        self._lock = threading.Lock()

    @property
    def is_semantic(self) -> bool:
        return self.settings.mode == "semantic" and self._embedder is not None

    def embed(self, key: CacheKey) -> Any:
        """The question's embedding (only for ``semantic``)."""
        assert self._embedder is not None
        return self._embedder().embed([key.question])[0]

    def lookup(self, tenant: str, model: str, key: CacheKey, vector: Any = None) -> Hit | None:
        """The answer to reuse for ``key``, if any; ``vector`` is its embedding (semantic)."""
        now = self._clock()
        with self._lock:
            shelf = self._shelves.get((tenant, model))
            if shelf is None:
                return None
            answer = shelf.exact(key, now)
            if answer is not None:
                return Hit(answer, 1.0)
            if vector is None:
                return None
            found = shelf.nearest(key, vector, self.settings.threshold, now)
        return Hit(*found) if found is not None else None

    def store(
        self, tenant: str, model: str, key: CacheKey, answer: ChatAnswer, vector: Any = None
    ) -> None:
        expires = self._clock() + self.settings.ttl
        with self._lock:
            shelf = self._shelves.get((tenant, model))
            if shelf is None:
                embedder = self._embedder
                dimensions = embedder().dimensions if embedder and self.is_semantic else 1
                shelf = self._shelves[(tenant, model)] = _Shelf(
                    self.settings.max_entries, dimensions
                )
            shelf.store(key, vector, answer, expires)

    def size(self, tenant: str, model: str) -> int:
        with self._lock:
            shelf = self._shelves.get((tenant, model))
            return len(shelf) if shelf is not None else 0
