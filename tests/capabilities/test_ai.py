"""The AI capability end to end: guests built with the C SDK call the model through pyjinn.

The model is llama.cpp's server with the packaged Gemma 3 270M (the session's ``llm_server``):
its answers are poor, so these tests check the protocol, limits, budgets, caching, metrics and
errors, not what it says. Failure paths a real model cannot be made to take (a hang, a 500, a
429, a redirect) use a scripted HTTP server on loopback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from pyjinn.observability import tracing
from pyjinn.observability.metrics import REGISTRY
from tests.sdk.support import build_c
from tests.servers import LLM_ALIAS, ScriptedHttp

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ASK = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pyjinn.h"

__attribute__((import_module("gojinn"), import_name("host_ask_ai")))
long long host_ask_ai(int32_t prompt, int32_t prompt_length, int32_t out, int32_t out_max);

static char answer_buffer[4096];

int main(void) {
    pyjinn_request request;
    if (pyjinn_read_request(&request) != PYJINN_OK) return 1;
    char *answer = NULL;
    size_t length = 0;
    int status;
    if (strncmp(request.path, "/gojinn", 7) == 0) {
        /* /gojinn: a 16-byte buffer (the model is asked for 8 tokens); /gojinn-wide: 4096. */
        int32_t capacity = strcmp(request.path, "/gojinn-wide") == 0 ? 4096 : 16;
        long long copied = host_ask_ai(PYJINN_ADDRESS(request.body),
                                       (int32_t)request.body_length,
                                       PYJINN_ADDRESS(answer_buffer), capacity);
        pyjinn_buffer out = {0};
        pyjinn_buffer_append_text(&out, "{\"text\":");
        pyjinn_buffer_append_json(&out, answer_buffer, (size_t)copied);
        pyjinn_buffer_append_text(&out, "}");
        return pyjinn_respond(200, NULL, 0, out.data, out.length) ? 1 : 0;
    }
    if (strcmp(request.path, "/embed") == 0) {
        status = pyjinn_ai_embed(request.body, &answer, &length);
    } else {
        status = pyjinn_ai_chat(request.body, &answer, &length);
    }
    if (status != PYJINN_OK) {
        char *message = pyjinn_last_error();
        pyjinn_buffer out = {0};
        pyjinn_buffer_append_text(&out, "{\"code\":\"");
        pyjinn_buffer_append_text(&out, pyjinn_status_name(status));
        pyjinn_buffer_append_text(&out, "\",\"message\":");
        pyjinn_buffer_append_json(&out, message, strlen(message));
        pyjinn_buffer_append_text(&out, "}");
        return pyjinn_respond(200, NULL, 0, out.data, out.length) ? 1 : 0;
    }
    return pyjinn_respond(200, NULL, 0, answer, length) ? 1 : 0;
}
"""

KEYS = {"acme": "acme-key-0123456789abcdef", "globex": "globex-key-0123456789abcdef"}
DEBUG_SECRET = "a-debug-secret-0123456789"


def question(text: str, **extra: object) -> dict[str, object]:
    return {
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 8,
        "temperature": 0,
        **extra,
    }


@pytest.fixture
def ai_client(make_client, project):
    """``ai_client(endpoint, settings="", model=...)``: an in-process client for the ``ask``
    guest as function ``ask`` with the model at ``endpoint`` and extra ``settings`` lines."""
    project("ask.wasm", build_c(ASK))

    def make(endpoint: str, settings: str = "", model: str = LLM_ALIAS) -> httpx.AsyncClient:
        return make_client(
            f"""
            :8080 {{
                pyjinn ask.wasm {{
                    name ask
                    timeout 60s
                    debug_secret {DEBUG_SECRET}
                    api_key {KEYS["acme"]} acme
                    api_key {KEYS["globex"]} globex
                    ai_endpoint {endpoint}
                    ai_model {model}
                    {settings}
                }}
            }}
            """
        )

    return make


async def ask(
    client: httpx.AsyncClient,
    document: object,
    path: str = "/chat",
    tenant: str = "acme",
    headers: dict[str, str] | None = None,
) -> dict:
    body = document if isinstance(document, str) else json.dumps(document)
    response = await client.post(
        path, content=body, headers={"X-API-Key": KEYS[tenant], **(headers or {})}, timeout=60
    )
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    return answer


@pytest.fixture
def scripted() -> Iterator[ScriptedHttp]:
    server = ScriptedHttp()
    yield server
    server.stop()


async def test_a_chat_call_returns_the_text_finish_reason_and_usage(ai_client, llm_server):
    client = ai_client(llm_server.url)
    answer = await ask(client, question("Name three colors."))
    assert set(answer) == {"text", "finish_reason", "model", "usage", "cached"}
    assert isinstance(answer["text"], str)
    assert answer["finish_reason"] in ("stop", "length")
    assert answer["cached"] is False
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 8  # max_tokens reached the model
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


async def test_gojinns_host_ask_ai_returns_the_answer_text(ai_client, llm_server):
    client = ai_client(llm_server.url)
    answer = await ask(client, "Say hello.", path="/gojinn")
    assert isinstance(answer["text"], str) and not answer["text"].startswith('{"error"')


async def test_the_same_request_is_answered_from_the_exact_cache(ai_client, llm_server):
    client = ai_client(llm_server.url, "ai_cache exact 10m 100")
    first = await ask(client, question("What is two plus two?"))
    second = await ask(client, question("What is two plus two?"))
    assert first["cached"] is False and second["cached"] is True
    assert second["text"] == first["text"]
    assert second["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    other = await ask(client, question("What is two plus two?", max_tokens=5))
    assert other["cached"] is False  # other parameters: another context


async def test_a_paraphrase_is_answered_from_the_semantic_cache(ai_client, llm_server):
    client = ai_client(llm_server.url, "ai_cache semantic 0.8 10m 100")
    first = await ask(client, question("What is the capital of France?"))
    paraphrase = await ask(client, question("what's the capital city of France"))
    unrelated = await ask(client, question("How do I bake sourdough bread?"))
    assert first["cached"] is False
    assert paraphrase["cached"] is True and paraphrase["text"] == first["text"]
    assert unrelated["cached"] is False


async def test_cached_answers_never_cross_tenants(ai_client, llm_server):
    client = ai_client(llm_server.url, "ai_cache exact")
    await ask(client, question("Tell me a secret."), tenant="acme")
    assert (await ask(client, question("Tell me a secret."), tenant="acme"))["cached"] is True
    assert (await ask(client, question("Tell me a secret."), tenant="globex"))["cached"] is False


async def test_cache_hits_and_misses_are_counted(ai_client, llm_server):
    REGISTRY.reset()
    client = ai_client(llm_server.url, "ai_cache exact")
    for _ in range(3):
        await ask(client, question("Count me."))
    counted = {
        labels: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_ai_cache_lookups"
    }
    assert counted == {("ask", "miss"): 1, ("ask", "hit"): 2}


async def test_tokens_are_counted_by_function_and_tenant(ai_client, llm_server):
    REGISTRY.reset()
    client = ai_client(llm_server.url)
    answer = await ask(client, question("Hello there."), tenant="globex")
    counted = {
        labels: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_ai_tokens"
    }
    assert counted == {
        ("ask", "globex", "prompt"): answer["usage"]["prompt_tokens"],
        ("ask", "globex", "completion"): answer["usage"]["completion_tokens"],
    }


async def test_tokens_are_on_the_invocation_span(ai_client, llm_server):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = tracing.new_provider({})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        client = ai_client(llm_server.url)
        first = await ask(client, question("One."))
    finally:
        tracing.shutdown()
    (span,) = [span for span in exporter.get_finished_spans() if span.name == "invoke ask"]
    assert span.attributes["pyjinn.ai.prompt_tokens"] == first["usage"]["prompt_tokens"]
    assert span.attributes["pyjinn.ai.completion_tokens"] == first["usage"]["completion_tokens"]


async def test_a_spent_token_budget_is_refused_with_its_own_code(ai_client, llm_server):
    client = ai_client(llm_server.url, "ai_tokens_per_minute 5")
    first = await ask(client, question("First question, fairly long to spend tokens."))
    assert first["usage"]["total_tokens"] >= 5
    refused = await ask(client, question("Second question."))
    assert refused["code"] == "BUDGET"
    assert "tokens per minute" in refused["message"]
    other_tenant = await ask(client, question("Second question."), tenant="globex")
    assert "text" in other_tenant  # budgets are per tenant


async def test_prompts_and_answers_are_never_logged(ai_client, llm_server, caplog):
    client = ai_client(llm_server.url)
    secret = "zebra-unicorn-password-4711"
    with caplog.at_level(logging.DEBUG):
        answer = await ask(client, question(f"Repeat: {secret}"))
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert secret not in logged
    assert answer["text"] not in logged or not answer["text"].strip()


async def test_the_debug_secret_gets_the_prompt_and_answer_back(ai_client, llm_server):
    client = ai_client(llm_server.url)
    response = await client.post(
        "/chat",
        content=json.dumps(question("Debug me please.")),
        headers={"X-API-Key": KEYS["acme"], "X-Pyjinn-Debug": DEBUG_SECRET},
        timeout=60,
    )
    lines = json.loads(response.headers["x-pyjinn-logs"])
    assert any("ai_chat request:" in line and "Debug me please." in line for line in lines)
    assert any(line.startswith("ai_chat answer:") for line in lines)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ({"messages": []}, "non-empty array"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "model": "gpt-4"}, "ai_model"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "response_format": "json"}, "type"),
    ],
)
async def test_a_bad_chat_request_is_invalid_and_says_why(ai_client, scripted, document, message):
    client = ai_client(scripted.url("/ok/v1"))
    refused = await ask(client, document)
    assert refused["code"] == "INVALID"
    assert message in refused["message"]
    assert scripted.connections == 0


async def test_a_hanging_model_is_cut_off_before_the_invocation_deadline(
    make_client, project, scripted
):
    project("ask.wasm", build_c(ASK))
    client = make_client(
        f"""
        :8080 {{
            pyjinn ask.wasm {{
                timeout 1500ms
                permissions {{
                    ai
                }}
                ai_endpoint {scripted.url("/hang/v1")}
                ai_model m
            }}
        }}
        """
    )
    response = await client.post("/chat", content=json.dumps(question("hang")), timeout=30)
    assert response.status_code == 200  # the guest got the error in time and answered
    assert response.json()["code"] == "UNAVAILABLE"
    assert "in time" in response.json()["message"]


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "UNAVAILABLE"), (503, "UNAVAILABLE"), (429, "RATE_LIMITED"), (400, "INVALID")],
)
async def test_a_failing_provider_gives_the_guest_a_clear_code(ai_client, scripted, status, code):
    client = ai_client(scripted.url(f"/status/{status}/v1"))
    refused = await ask(client, question("x"))
    assert refused["code"] == code
    assert f"HTTP {status}" in refused["message"] and f"scripted {status}" in refused["message"]


async def test_gojinns_call_gets_a_provider_error_as_json_text(ai_client, scripted):
    client = ai_client(scripted.url("/status/500/v1"))
    answer = await ask(client, "x", path="/gojinn-wide")
    assert json.loads(answer["text"])["error"].startswith("the provider failed (HTTP 500)")


async def test_a_redirect_to_a_host_not_allowed_is_denied(ai_client, scripted):
    other = ScriptedHttp()
    try:
        scripted.redirect_to = other.url("/ok/v1/chat/completions")
        client = ai_client(scripted.url("/redirect/v1"))
        refused = await ask(client, question("x"))
        assert refused["code"] == "DENIED"
        assert f"127.0.0.1:{other.port} is not in allow_host" in refused["message"]
        assert other.connections == 0
    finally:
        other.stop()


async def test_an_embedding_call_returns_unit_vectors(ai_client, scripted):
    client = ai_client(scripted.url("/ok/v1"))
    answer = await ask(client, ["refund my invoice", "reset my password"], path="/embed")
    assert answer["model"] == "all-MiniLM-L6-v2" and answer["dimensions"] == 384
    vectors = answer["embeddings"]
    assert len(vectors) == 2 and all(len(vector) == 384 for vector in vectors)
    for vector in vectors:
        assert abs(sum(value * value for value in vector) - 1) < 1e-3
    assert scripted.connections == 0  # the local model: no network


async def test_a_module_importing_ai_without_the_grant_is_refused_at_load(make_runtime, project):
    from pyjinn.errors import ModuleError

    project("ask.wasm", build_c(ASK))
    runtime = make_runtime(":8080 {\n pyjinn ask.wasm\n}\n")
    with pytest.raises(
        ModuleError, match=r"need the ai grant, but function 'ask' has no ai: add the line `ai` "
    ):
        runtime.functions["ask"].module  # noqa: B018
