"""Routing by meaning: the decision (local embeddings, threshold, fallback), and the route over
HTTP (the chosen function answers, the decision in X-Pyjinn-Route and the access record)."""

from __future__ import annotations

import json
import logging

import pytest

from pyjinn.ai.routing import MeaningRouter, request_text
from pyjinn.backends.embeddings import local_embedder
from pyjinn.config.model import MeaningRoute, MeaningTarget
from pyjinn.observability.metrics import REGISTRY
from tests.helpers import wat_writing

ROUTE = MeaningRoute(
    (
        MeaningTarget("billing", ("invoices, refunds, charges", "I was charged twice")),
        MeaningTarget("support", ("login problems, passwords", "I cannot sign in")),
    ),
    threshold=0.35,
    fallback="helpdesk",
)


@pytest.fixture(scope="module")
def router() -> MeaningRouter:
    return MeaningRouter(ROUTE, local_embedder())


@pytest.mark.parametrize(
    ("text", "function"),
    [
        ("My card was billed two times this month", "billing"),
        ("Can I get my money back for the last invoice?", "billing"),
        ("I forgot my password and can't log in", "support"),
        ("The sign-in page rejects my credentials", "support"),
    ],
)
def test_a_request_goes_to_the_nearest_function(router, text, function) -> None:
    decision = router.decide(text)
    assert decision.function == function
    assert decision.score >= 0.35 and not decision.fallback


def test_a_request_near_nothing_goes_to_the_fallback(router) -> None:
    decision = router.decide("What is the boiling point of tungsten?")
    assert decision.function == "helpdesk" and decision.fallback
    assert decision.score < 0.35
    assert decision.describe().startswith("helpdesk; score=")
    assert decision.describe().endswith("; fallback")


def test_an_empty_request_goes_to_the_fallback(router) -> None:
    assert router.decide("   ").function == "helpdesk"


def test_without_a_fallback_a_request_near_nothing_goes_nowhere() -> None:
    route = MeaningRoute(ROUTE.targets, threshold=0.99)
    decision = MeaningRouter(route, local_embedder()).decide("I was charged twice!")
    assert decision.function is None and decision.nearest == "billing"
    assert decision.describe().startswith("none; score=")


def test_the_text_comes_from_the_field_the_body_or_the_q_parameter() -> None:
    with_field = MeaningRoute(ROUTE.targets, field="question")
    assert request_text(with_field, b'{"question": "refund?", "x": 1}', b"") == "refund?"
    assert request_text(with_field, b"not json", b"") == ""
    assert request_text(ROUTE, b"plain text body", b"q=ignored") == "plain text body"
    assert request_text(ROUTE, b"", b"q=reset%20password&x=1") == "reset password"


CADDYFILE = """
:8080 {
    route_by_meaning /ask {
        to billing "invoices, refunds, charges" "I was charged twice"
        to support "login problems, passwords" "I cannot sign in"
        fallback helpdesk
    }
    route_by_meaning /strict {
        to billing "invoices, refunds, charges"
        threshold 0.99
    }
    pyjinn /billing billing.wat
    pyjinn /support support.wat
    pyjinn /helpdesk helpdesk.wat
}
"""


def answering(name: str) -> str:
    return wat_writing(json.dumps({"status": 200, "body": f"this is {name}"}))


@pytest.fixture
def client(make_client, project):
    for name in ("billing", "support", "helpdesk"):
        project(f"{name}.wat", answering(name))
    runtime_client = make_client(CADDYFILE)
    return runtime_client


@pytest.mark.anyio
async def test_the_chosen_function_answers_with_the_decision_in_a_header(client, caplog) -> None:
    REGISTRY.reset()
    with caplog.at_level(logging.INFO, logger="pyjinn.access"):
        response = await client.post("/ask", content="I was billed twice for one order")
    assert response.status_code == 200
    assert response.text == "this is billing"
    route = response.headers["x-pyjinn-route"]
    assert route.startswith("billing; score=0.")
    (record,) = [record for record in caplog.records if record.name == "pyjinn.access"]
    assert record.function == "billing" and record.route == route
    counted = {
        labels: count
        for family, labels, count in REGISTRY.snapshot()
        if family.name == "pyjinn_meaning_routes"
    }
    assert counted == {("/ask", "billing"): 1}


@pytest.mark.anyio
async def test_a_get_request_is_routed_by_its_q_parameter(client) -> None:
    response = await client.get("/ask", params={"q": "I can't log in, my password is wrong"})
    assert response.text == "this is support"


@pytest.mark.anyio
async def test_an_unrelated_request_reaches_the_fallback(client) -> None:
    response = await client.post("/ask", content="Recommend a good science fiction novel")
    assert response.text == "this is helpdesk"
    assert response.headers["x-pyjinn-route"].endswith("; fallback")


@pytest.mark.anyio
async def test_with_no_fallback_an_unrelated_request_gets_404(client) -> None:
    response = await client.post("/strict", content="I was charged twice")
    assert response.status_code == 404
    assert response.json() == {"error": "no function matches what the request says"}
    assert response.headers["x-pyjinn-route"].startswith("none; score=")


def test_route_texts_are_embedded_once_at_load(make_runtime, project) -> None:
    for name in ("billing", "support", "helpdesk"):
        project(f"{name}.wat", answering(name))
    runtime = make_runtime(CADDYFILE)
    assert runtime.meaning_routers == {}
    assert runtime.load_all() == []
    routers = dict(runtime.meaning_routers)
    assert len(routers) == 2
    route = next(
        route for route in runtime.config.sites[0].routes if isinstance(route.handler, MeaningRoute)
    )
    assert runtime.meaning_router(route.handler) is routers[id(route.handler)]
