"""A chat model reached over OpenAI's chat completions protocol (OpenAI, Ollama's /v1, llama.cpp's
server, vLLM, ...), through the process's one outbound client and its allow-list."""

from __future__ import annotations

import json
from typing import Any

from pyjinn.backends.llm import (
    ChatAnswer,
    ChatRequest,
    ModelDenied,
    ModelRateLimited,
    ModelRejected,
    ModelTimeout,
    ModelUnavailable,
)
from pyjinn.config.model import AiSettings
from pyjinn.egress import (
    EgressClient,
    EgressDenied,
    EgressTimeout,
    EgressUnavailable,
    HttpAnswer,
    shared_client,
)

MAX_ANSWER = 4 * 1024 * 1024


class OpenAiCompatible:
    """``POST {endpoint}`` with ``{"model", "messages", ...}``; the answer's first choice."""

    def __init__(self, settings: AiSettings, client: EgressClient | None = None) -> None:
        self.settings = settings
        self._client = client
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if settings.token:
            self._headers["Authorization"] = f"Bearer {settings.token}"

    def chat(self, request: ChatRequest, *, deadline: float) -> ChatAnswer:
        document: dict[str, Any] = {
            "model": self.settings.model,
            "messages": list(request.messages),
        }
        if request.max_tokens is not None:
            document["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            document["temperature"] = request.temperature
        if request.response_format is not None:
            document["response_format"] = request.response_format
        client = self._client or shared_client()
        try:
            answer = client.request(
                "POST",
                self.settings.endpoint,
                allow=self.settings.allow,
                deadline=deadline,
                headers=self._headers,
                body=json.dumps(document).encode(),
                max_response=MAX_ANSWER,
            )
        except EgressDenied as error:
            raise ModelDenied(str(error)) from None
        except EgressTimeout as error:
            raise ModelTimeout(f"the model did not answer in time ({error})") from None
        except EgressUnavailable as error:
            raise ModelUnavailable(str(error)) from None
        return _answer(answer, self.settings.model)


def _answer(answer: HttpAnswer, configured_model: str) -> ChatAnswer:
    status = answer.status
    if status == 429:
        raise ModelRateLimited(
            f"the provider refused for its rate limit (HTTP 429){_reason(answer)}",
            answer.headers.get("retry-after"),
        )
    if status >= 500:
        raise ModelUnavailable(f"the provider failed (HTTP {status}){_reason(answer)}")
    if status >= 400:
        raise ModelRejected(f"the provider refused the request (HTTP {status}){_reason(answer)}")
    if status != 200:
        raise ModelUnavailable(f"unexpected HTTP {status} from the provider")
    try:
        document = json.loads(answer.body)
        choice = document["choices"][0]
        text = choice["message"].get("content") or ""
        finish_reason = choice.get("finish_reason") or "stop"
        usage = document.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        model = str(document.get("model") or configured_model)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ModelUnavailable("the provider's answer is not a chat completion") from None
    if not isinstance(text, str):
        raise ModelUnavailable("the provider's answer has no text content")
    return ChatAnswer(text, str(finish_reason), model, prompt_tokens, completion_tokens)


def _reason(answer: HttpAnswer) -> str:
    """The provider's own error message, short: it goes to the guest (which wrote the prompt it
    may quote) through error_read, never to the logs."""
    try:
        error = json.loads(answer.body).get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:200]}" if message else ""
