"""The answer cache: per tenant and model, bounded (LRU and TTL), exact and semantic, with the
local embedding model for semantic lookups."""

from __future__ import annotations

import pytest

from pyjinn.ai.cache import AnswerCache, cache_key
from pyjinn.backends.embeddings import local_embedder
from pyjinn.backends.llm import ChatAnswer, ChatRequest
from pyjinn.config.model import AiCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def request(text: str, *, system: str | None = None, max_tokens: int | None = 8) -> ChatRequest:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": text}
    ]
    return ChatRequest(tuple(messages), max_tokens=max_tokens)


def answer(text: str) -> ChatAnswer:
    return ChatAnswer(text, "stop", "m", 5, 5)


def store(cache: AnswerCache, text: str, reply: str, tenant: str = "acme", **options) -> None:
    key = cache_key(request(text, **options))
    vector = cache.embed(key) if cache.is_semantic else None
    cache.store(tenant, "m", key, answer(reply), vector)


def lookup(cache: AnswerCache, text: str, tenant: str = "acme", **options):
    key = cache_key(request(text, **options))
    vector = cache.embed(key) if cache.is_semantic else None
    return cache.lookup(tenant, "m", key, vector)


def test_an_exact_cache_answers_the_same_request_only() -> None:
    cache = AnswerCache(AiCache("exact"))
    store(cache, "What is 2+2?", "4")
    assert lookup(cache, "What is 2+2?").answer.text == "4"
    assert lookup(cache, "What is 2 + 2?") is None


def test_the_context_must_match_exactly() -> None:
    cache = AnswerCache(AiCache("exact"))
    store(cache, "hi", "hello", system="be brief")
    assert lookup(cache, "hi", system="be brief") is not None
    assert lookup(cache, "hi", system="be verbose") is None
    assert lookup(cache, "hi", system="be brief", max_tokens=9) is None


def test_answers_are_kept_per_tenant() -> None:
    cache = AnswerCache(AiCache("exact"))
    store(cache, "secret?", "acme's", tenant="acme")
    assert lookup(cache, "secret?", tenant="globex") is None


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = AnswerCache(AiCache("exact", ttl=10), clock=clock)
    store(cache, "q", "a")
    clock.now = 9.9
    assert lookup(cache, "q") is not None
    clock.now = 10.1
    assert lookup(cache, "q") is None


def test_the_least_recently_used_entry_leaves_when_full() -> None:
    cache = AnswerCache(AiCache("exact", max_entries=2))
    store(cache, "one", "1")
    store(cache, "two", "2")
    assert lookup(cache, "one") is not None  # "two" is now the least recently used
    store(cache, "three", "3")
    assert cache.size("acme", "m") == 2
    assert lookup(cache, "two") is None
    assert lookup(cache, "one") is not None and lookup(cache, "three") is not None


@pytest.fixture(scope="module")
def semantic() -> AnswerCache:
    return AnswerCache(AiCache("semantic", threshold=0.8), local_embedder)


def test_a_semantic_cache_answers_a_paraphrase(semantic: AnswerCache) -> None:
    store(semantic, "How do I reset my password?", "use the link")
    hit = lookup(semantic, "how can I reset my password")
    assert hit is not None and hit.answer.text == "use the link"
    assert 0.8 <= hit.score < 1.0


def test_a_semantic_cache_does_not_answer_another_question(semantic: AnswerCache) -> None:
    store(semantic, "What is the refund policy?", "30 days")
    assert lookup(semantic, "What is the weather in Paris tomorrow?") is None


def test_a_semantic_hit_still_needs_the_same_context(semantic: AnswerCache) -> None:
    store(semantic, "Where is my parcel?", "in transit", max_tokens=50)
    assert lookup(semantic, "where is my parcel", max_tokens=51) is None
