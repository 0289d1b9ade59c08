"""The AI capability: chat with the configured model, embed texts with the local model.

Granted by ``permissions { ai }`` or by ``ai_provider``/``ai_endpoint`` in the function's own
block (``pyjinn.config.ai``). Each chat call:

1. checks the request (an OpenAI-style chat request without the model, as JSON);
2. answers from the cache when ``ai_cache`` holds an answer (marked ``"cached": true``);
3. else checks the tenant's ``ai_tokens_per_minute`` budget (``BUDGET`` when spent), asks the
   model through the one outbound client and its ``allow_host`` list, bounded by the
   invocation's deadline, and counts the tokens against the budget, in metrics and on the span.

Prompts and answers are never logged: they stay in the invocation's record, which only a
request presenting the function's debug secret gets back (``X-Pyjinn-Logs``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from pyjinn.abi import ErrorCode
from pyjinn.ai.budget import BudgetSpent, TokenBudgets
from pyjinn.ai.cache import AnswerCache, cache_key
from pyjinn.backends.embeddings import EmbeddingsUnavailable, local_embedder
from pyjinn.backends.llm import (
    ChatAnswer,
    ChatModel,
    ChatRequest,
    ModelDenied,
    ModelError,
    ModelRateLimited,
    ModelRejected,
    make_model,
)
from pyjinn.capabilities.base import Call, HostCallError
from pyjinn.config.model import AiSettings, Permissions
from pyjinn.observability import tracing
from pyjinn.observability.metrics import REGISTRY as METRICS

MAX_REQUEST = 1024 * 1024
MAX_ASK_TOKENS = 4096
MAX_EMBED_TEXTS = 256
MAX_EMBED_REQUEST = 1024 * 1024
_ROLES = ("system", "user", "assistant")
_KEYS = ("messages", "max_tokens", "temperature", "response_format")


class AiFunction:
    """One function's model, settings and cache, bound once per runtime."""

    def __init__(self, settings: AiSettings, model: ChatModel, cache: AnswerCache | None) -> None:
        self.settings = settings
        self.model = model
        self.cache = cache


class Ai:
    name = "ai"
    grant_example = "permissions { ai }"

    def __init__(
        self, functions: Mapping[str, AiFunction], budgets: TokenBudgets | None = None
    ) -> None:
        """``functions`` holds each granted function's model, by function name."""
        self.functions = functions
        self.budgets = budgets or TokenBudgets()

    def is_granted(self, permissions: Permissions) -> bool:
        return permissions.ai

    def authorize(
        self, permissions: Permissions, call: str, arguments: tuple[Any, ...]
    ) -> str | None:
        return None  # the grant covers every call of the capability

    # -- pyjinn ---------------------------------------------------------------------------------

    def ai_chat(self, call: Call, request: bytes) -> bytes:
        _check_size(request, MAX_REQUEST, "a chat request")
        chat = parse_chat_request(request)
        answer, cached = self._ask(call, chat)
        document = {
            "text": answer.text,
            "finish_reason": answer.finish_reason,
            "model": answer.model,
            "usage": {
                "prompt_tokens": 0 if cached else answer.prompt_tokens,
                "completion_tokens": 0 if cached else answer.completion_tokens,
                "total_tokens": 0 if cached else answer.prompt_tokens + answer.completion_tokens,
            },
            "cached": cached,
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    def ai_embed(self, call: Call, texts: bytes) -> bytes:
        _check_size(texts, MAX_EMBED_REQUEST, "an embedding request")
        try:
            parsed = json.loads(texts)
        except (ValueError, UnicodeDecodeError):
            raise HostCallError(ErrorCode.INVALID, "ai_embed expects JSON text") from None
        batch = [parsed] if isinstance(parsed, str) else parsed
        if not isinstance(batch, list) or not all(isinstance(text, str) for text in batch):
            raise HostCallError(
                ErrorCode.INVALID, 'ai_embed expects a string or an array of strings, like ["hi"]'
            )
        if len(batch) > MAX_EMBED_TEXTS:
            raise HostCallError(
                ErrorCode.LIMIT, f"{len(batch)} texts is more than {MAX_EMBED_TEXTS} per call"
            )
        try:
            embedder = local_embedder()
            vectors = embedder.embed(batch)
        except EmbeddingsUnavailable as error:
            raise HostCallError(ErrorCode.UNAVAILABLE, str(error)) from None
        document = {
            "model": embedder.name,
            "dimensions": embedder.dimensions,
            "embeddings": [[round(float(value), 6) for value in row] for row in vectors],
        }
        return json.dumps(document, separators=(",", ":")).encode()

    # -- gojinn ---------------------------------------------------------------------------------

    def host_ask_ai(self, call: Call, prompt: str, out: tuple[int, int]) -> bytes:
        """Gojinn: one user prompt in, the answer's text out (the dispatcher copies what fits
        in the out buffer, as Gojinn did). The model is asked for at most half as many tokens
        as the buffer has bytes: a token is rarely shorter than two bytes, and text past the
        buffer would be paid for and thrown away."""
        if not prompt:
            raise HostCallError(ErrorCode.INVALID, "the prompt is empty")
        max_tokens = max(1, min(out[1] // 2, MAX_ASK_TOKENS))
        message = {"role": "user", "content": prompt}
        answer, _ = self._ask(call, ChatRequest((message,), max_tokens=max_tokens))
        return answer.text.encode()

    # -- the one path to the model ---------------------------------------------------------------

    def _ask(self, call: Call, request: ChatRequest) -> tuple[ChatAnswer, bool]:
        host = call.context.host
        bound = self.functions.get(host.function) if host is not None else None
        if bound is None:
            raise HostCallError(ErrorCode.UNAVAILABLE, "no model is configured for this function")
        settings, tenant = bound.settings, call.tenant
        function = host.function if host is not None else ""
        shelf = f"{settings.endpoint}#{settings.model}"  # answers are per tenant and model
        cache, key, vector = bound.cache, None, None
        if cache is not None:
            key = cache_key(request)
            try:
                vector = cache.embed(key) if cache.is_semantic else None
            except EmbeddingsUnavailable as error:
                raise HostCallError(ErrorCode.UNAVAILABLE, str(error)) from None
            hit = cache.lookup(tenant, shelf, key, vector)
            METRICS.ai_cache(function, "hit" if hit else "miss")
            if hit is not None:
                return hit.answer, True
        if settings.tokens_per_minute is not None:
            try:
                self.budgets.check(tenant, settings.tokens_per_minute)
            except BudgetSpent as error:
                raise HostCallError(ErrorCode.BUDGET, str(error)) from None
        deadline = time.monotonic() + call.budget(ceiling=call.context.remaining())
        try:
            answer = bound.model.chat(request, deadline=deadline)
        except ModelDenied as error:
            raise HostCallError(ErrorCode.DENIED, str(error)) from None
        except ModelRateLimited as error:
            raise HostCallError(ErrorCode.RATE_LIMITED, str(error)) from None
        except ModelRejected as error:
            raise HostCallError(ErrorCode.INVALID, str(error)) from None
        except ModelError as error:  # unavailable or out of time
            raise HostCallError(ErrorCode.UNAVAILABLE, str(error)) from None
        tokens = answer.prompt_tokens + answer.completion_tokens
        self.budgets.spend(tenant, tokens)
        METRICS.ai_tokens(function, tenant, answer.prompt_tokens, answer.completion_tokens)
        if tracing.enabled:
            tracing.add_to_invocation(
                {
                    "pyjinn.ai.prompt_tokens": answer.prompt_tokens,
                    "pyjinn.ai.completion_tokens": answer.completion_tokens,
                }
            )
        if cache is not None and key is not None:
            cache.store(tenant, shelf, key, answer, vector)
        return answer, False


def _check_size(data: bytes, limit: int, what: str) -> None:
    if len(data) > limit:
        raise HostCallError(
            ErrorCode.LIMIT, f"{what} of {len(data)} bytes exceeds the limit of {limit} bytes"
        )


def parse_chat_request(data: bytes) -> ChatRequest:
    """A guest's chat request, checked; raises INVALID saying what is wrong."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise HostCallError(ErrorCode.INVALID, "the chat request is not JSON") from None
    if not isinstance(document, dict):
        raise HostCallError(
            ErrorCode.INVALID,
            "the chat request must be a JSON object, like "
            '{"messages": [{"role": "user", "content": "hi"}]}',
        )
    unknown = sorted(set(document) - set(_KEYS))
    if unknown:
        extra = " (the model is set by ai_model in the config)" if "model" in unknown else ""
        raise HostCallError(
            ErrorCode.INVALID,
            f"unknown field {unknown[0]!r} in the chat request; expected {', '.join(_KEYS)}"
            + extra,
        )
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        raise HostCallError(ErrorCode.INVALID, "messages must be a non-empty array")
    checked: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in _ROLES
            or not isinstance(message["content"], str)
        ):
            raise HostCallError(
                ErrorCode.INVALID,
                f'messages[{index}] must be {{"role": system|user|assistant, "content": text}}',
            )
        checked.append({"role": message["role"], "content": message["content"]})
    max_tokens = document.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0
    ):
        raise HostCallError(ErrorCode.INVALID, "max_tokens must be a positive integer")
    temperature = document.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float)
        or isinstance(temperature, bool)
        or not 0 <= temperature <= 2
    ):
        raise HostCallError(ErrorCode.INVALID, "temperature must be a number from 0 to 2")
    response_format = document.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str)
    ):
        raise HostCallError(
            ErrorCode.INVALID,
            'response_format must be an object with a "type", like {"type": "json_object"}',
        )
    return ChatRequest(tuple(checked), max_tokens, temperature, response_format)


def build_ai(specs: Mapping[str, AiSettings], budgets: TokenBudgets | None = None) -> Ai:
    """The capability for the functions granted the model (``specs``: settings by function);
    functions with the same settings share one backend and one cache."""
    models: dict[AiSettings, ChatModel] = {}
    caches: dict[Any, AnswerCache] = {}
    functions: dict[str, AiFunction] = {}
    for name, settings in specs.items():
        model = models.get(settings)
        if model is None:
            model = models[settings] = make_model(settings)
        cache = None
        if settings.cache is not None:
            cache_settings = settings.cache
            cache = caches.get(cache_settings)
            if cache is None:
                cache = caches[cache_settings] = AnswerCache(
                    cache_settings,
                    local_embedder if cache_settings.mode == "semantic" else None,
                )
        functions[name] = AiFunction(settings, model, cache)
    return Ai(functions, budgets)
