"""The OpenAI-compatible backend: against llama.cpp's real server, and what it sends and makes
of errors against a scripted server on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from pyjinn.backends.llm import ChatRequest, ModelRejected, ModelUnavailable
from pyjinn.backends.llm.openai import OpenAiCompatible
from pyjinn.config.model import AiSettings
from pyjinn.egress import AllowList, EgressClient
from tests.servers import LLM_ALIAS, ScriptedHttp


def settings(endpoint: str, host: str, token: str | None = None) -> AiSettings:
    return AiSettings("openai", endpoint, LLM_ALIAS, AllowList.parse([host]), token=token)


@pytest.fixture
def egress() -> Iterator[EgressClient]:
    client = EgressClient()
    yield client
    client.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


@pytest.mark.slow
def test_a_real_server_answers_with_text_and_usage(llm_server, egress) -> None:
    model = OpenAiCompatible(
        settings(f"{llm_server.url}/chat/completions", f"127.0.0.1:{llm_server.port}"), egress
    )
    request = ChatRequest(({"role": "user", "content": "Say yes."},), max_tokens=4, temperature=0)
    first = model.chat(request, deadline=time.monotonic() + 60)
    again = model.chat(request, deadline=time.monotonic() + 60)
    assert first.prompt_tokens > 0 and 0 < first.completion_tokens <= 4
    assert first.text == again.text  # temperature 0 is repeatable
    assert first.model  # the server names the model it used


def test_it_sends_the_model_the_parameters_and_the_token(scripted, egress) -> None:
    model = OpenAiCompatible(
        settings(scripted.url("/ok/v1/chat/completions"), f"127.0.0.1:{scripted.port}", "tok"),
        egress,
    )
    request = ChatRequest(
        ({"role": "user", "content": "hi"},),
        max_tokens=3,
        temperature=0.5,
        response_format={"type": "json_object"},
    )
    answer = model.chat(request, deadline=time.monotonic() + 10)
    assert (answer.text, answer.prompt_tokens, answer.completion_tokens) == ("fixed answer", 7, 3)
    path, body = scripted.requests[0]
    assert path == "/ok/v1/chat/completions"
    assert json.loads(body) == {
        "model": LLM_ALIAS,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 3,
        "temperature": 0.5,
        "response_format": {"type": "json_object"},
    }


def test_a_404_is_a_rejected_request_and_a_non_chat_answer_is_unavailable(scripted, egress) -> None:
    host = f"127.0.0.1:{scripted.port}"
    request = ChatRequest(({"role": "user", "content": "hi"},))
    with pytest.raises(ModelRejected, match="HTTP 404"):
        OpenAiCompatible(settings(scripted.url("/status/404"), host), egress).chat(
            request, deadline=time.monotonic() + 10
        )
    scripted.answer = None  # type: ignore[assignment]  # "content": null is fine: empty text
    empty = OpenAiCompatible(settings(scripted.url("/ok"), host), egress).chat(
        request, deadline=time.monotonic() + 10
    )
    assert empty.text == ""
    with pytest.raises(ModelUnavailable, match="HTTP 302"):
        scripted.redirect_to = ""
        OpenAiCompatible(settings(scripted.url("/redirect"), host), egress).chat(
            request, deadline=time.monotonic() + 10
        )
