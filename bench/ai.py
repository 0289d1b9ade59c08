"""Part 7: the AI paths: a semantic cache lookup, a routing decision, and an MCP tool call.

- **Semantic cache lookup** at 10,000 entries of one tenant and model: the cache is filled with
  random unit vectors (a lookup's cost does not depend on what they mean) and looked up with
  vectors that miss, so every lookup scans every entry. Measured alone (the matrix product and
  bookkeeping) and with the question's embedding by the local model, as a chat call pays it.
- **Routing by meaning**: one decision of a route with four targets of three texts each, for a
  short question, including its embedding.
- **MCP vs HTTP**: the hello function served by ``pyjinn up --workers 1`` both as a route and as
  an MCP tool; sequential requests on one kept-alive connection, alternating a plain POST to
  the route and a JSON-RPC ``tools/call`` to ``/mcp``. The overhead is the difference of their
  medians.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import processes
from bench.guests import Guests
from bench.stats import distribution

ENTRIES = 10_000
ROUTE_TEXTS = {
    "billing": ("invoices, refunds, charges", "I was charged twice", "update my card"),
    "support": ("login problems, passwords", "I cannot sign in", "two-factor codes"),
    "shipping": ("delivery, parcels, tracking", "where is my order", "change my address"),
    "sales": ("pricing, plans, discounts", "do you offer a team plan", "talk to sales"),
}
QUESTIONS = (
    "My card was billed two times this month",
    "The sign-in page rejects my password",
    "When will my package arrive?",
    "How much is the enterprise plan?",
    "Can I get a refund for last week?",
)


def measure(
    guests: Guests, run_dir: Path, *, quick: bool, echo: Callable[[str], None]
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    echo("  semantic cache lookups at 10,000 entries")
    results["semantic_cache"] = semantic_cache(quick)
    echo("  routing decisions")
    results["routing"] = routing(quick)
    echo("  MCP tools/call vs HTTP")
    results["mcp"] = mcp_round_trip(guests, run_dir, quick)
    return results


def semantic_cache(quick: bool) -> dict[str, Any]:
    import numpy

    from pyjinn.ai.cache import AnswerCache, cache_key
    from pyjinn.backends.embeddings import local_embedder
    from pyjinn.backends.llm import ChatAnswer, ChatRequest
    from pyjinn.config.model import AiCache

    embedder = local_embedder()
    cache = AnswerCache(AiCache("semantic", threshold=0.99, max_entries=ENTRIES), local_embedder)
    generator = numpy.random.default_rng(7)

    def unit(size: int) -> Any:
        vectors = generator.standard_normal((size, embedder.dimensions)).astype(numpy.float32)
        return vectors / numpy.linalg.norm(vectors, axis=1, keepdims=True)

    answer = ChatAnswer("cached", "stop", "m", 1, 1)
    for index, vector in enumerate(unit(ENTRIES)):
        key = cache_key(ChatRequest(({"role": "user", "content": f"question {index}"},)))
        cache.store("tenant", "m", key, answer, vector)
    assert cache.size("tenant", "m") == ENTRIES
    probe = cache_key(ChatRequest(({"role": "user", "content": "a question never asked"},)))
    lookups: list[float] = []
    for vector in unit(200 if quick else 1000):
        started = time.perf_counter()
        hit = cache.lookup("tenant", "m", probe, vector)
        lookups.append((time.perf_counter() - started) * 1e6)
        assert hit is None
    with_embedding: list[float] = []
    for index in range(30 if quick else 200):
        question = f"{QUESTIONS[index % len(QUESTIONS)]} ({index})"
        key = cache_key(ChatRequest(({"role": "user", "content": question},)))
        started = time.perf_counter()
        cache.lookup("tenant", "m", key, cache.embed(key))
        with_embedding.append((time.perf_counter() - started) * 1e6)
    return {
        "entries": ENTRIES,
        "lookup_us": distribution(lookups),
        "lookup_with_embedding_us": distribution(with_embedding),
    }


def routing(quick: bool) -> dict[str, Any]:
    from pyjinn.ai.routing import MeaningRouter
    from pyjinn.backends.embeddings import local_embedder
    from pyjinn.config.model import MeaningRoute, MeaningTarget

    targets = tuple(MeaningTarget(name, texts) for name, texts in ROUTE_TEXTS.items())
    router = MeaningRouter(MeaningRoute(targets, threshold=0.3), local_embedder())
    samples: list[float] = []
    chosen: dict[str, int] = {}
    for index in range(50 if quick else 300):
        started = time.perf_counter()
        decision = router.decide(QUESTIONS[index % len(QUESTIONS)])
        samples.append((time.perf_counter() - started) * 1e3)
        name = decision.function or "none"
        chosen[name] = chosen.get(name, 0) + 1
    return {"targets": len(targets), "decision_ms": distribution(samples), "chosen": chosen}


def mcp_round_trip(guests: Guests, run_dir: Path, quick: bool) -> dict[str, Any]:
    if guests.hello is None:
        return {"skipped": "needs the C hello guest"}
    port, admin_port = processes.free_port(), processes.free_port()
    caddyfile = run_dir / "Caddyfile.mcp"
    caddyfile.write_text(
        f"{{\n\tadmin 127.0.0.1:{admin_port}\n\tdata_dir {run_dir / 'data'}\n}}\n"
        f"127.0.0.1:{port} {{\n\tpyjinn /hello {guests.hello} {{\n\t\tname hello\n"
        '\t\tai_tool {\n\t\t\tname hello\n\t\t\tdescription "Say hello"\n\t\t}\n\t}\n}\n'
    )
    server = processes.pyjinn_up("mcp", caddyfile, port, admin_port, run_dir, workers=1)
    try:
        processes.wait_until_ok(server, "/hello", method="POST", body=b"{}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        call = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "hello", "arguments": {}},
            }
        ).encode()
        mcp_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        }

        def timed(path: str, body: bytes, headers: dict[str, str]) -> float:
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - started) * 1e6
            if response.status != 200 or (path == "/mcp" and b'"isError":false' not in data):
                raise RuntimeError(f"POST {path}: {response.status} {data[:200]!r}")
            return elapsed

        for _ in range(50):  # warm-up: modules, the SDK's task group, the connection
            timed("/hello", b"{}", {"Content-Type": "application/json"})
            timed("/mcp", call, mcp_headers)
        plain: list[float] = []
        over_mcp: list[float] = []
        for _ in range(200 if quick else 1000):
            plain.append(timed("/hello", b"{}", {"Content-Type": "application/json"}))
            over_mcp.append(timed("/mcp", call, mcp_headers))
        connection.close()
    finally:
        server.stop()
    http_stats, mcp_stats = distribution(plain), distribution(over_mcp)
    return {
        "http_us": http_stats,
        "mcp_us": mcp_stats,
        "overhead_us_p50": mcp_stats["p50"] - http_stats["p50"],
    }
