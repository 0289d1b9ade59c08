"""Chat models: the contract every provider backend keeps.

A request arrives checked (see ``pyjinn.capabilities.ai``); a backend sends it to its provider
and returns the answer with its token usage, or raises one of the errors below. Calls come from
guest threads, synchronously, with a deadline on the ``time.monotonic()`` clock that no network
wait may pass. Backends never log prompts or answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pyjinn.config.model import AiSettings


@dataclass(frozen=True)
class ChatRequest:
    """An OpenAI-style chat request without the model (the configuration names it)."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int | None = None
    temperature: float | None = None
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatAnswer:
    """The provider's answer: its text, why it stopped, and the tokens it counted."""

    text: str
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int


class ModelError(Exception):
    """The provider could not answer; ``str()`` says why, without the prompt."""


class ModelDenied(ModelError):
    """The endpoint (or a redirect) is not allowed by allow_host: nothing was sent."""


class ModelTimeout(ModelError):
    """No answer before the deadline."""


class ModelUnavailable(ModelError):
    """The provider failed: a connection error, a 5xx, or an answer that is not a chat reply."""


class ModelRateLimited(ModelError):
    """The provider answered 429 (its own rate limit or quota)."""

    def __init__(self, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelRejected(ModelError):
    """The provider refused the request itself (a 4xx other than 429): bad parameters."""


class ChatModel(Protocol):
    """One configured model."""

    def chat(self, request: ChatRequest, *, deadline: float) -> ChatAnswer: ...


def make_model(settings: AiSettings) -> ChatModel:
    """The backend for ``settings``. Both providers speak OpenAI's chat completions protocol
    (Ollama through its OpenAI-compatible endpoint), so one backend serves them."""
    from pyjinn.backends.llm.openai import OpenAiCompatible

    return OpenAiCompatible(settings)
