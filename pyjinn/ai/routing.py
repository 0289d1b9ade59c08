"""Routing by meaning: pick the function whose description is nearest to what a request says.

Each ``route_by_meaning`` target has texts (a description and example phrases); they are embedded
once, when the runtime loads, with the local model. A request's text is embedded when it
arrives, and its score for a target is the highest cosine similarity with any of the target's
texts. The target with the best score answers if that score reaches the threshold; otherwise the
fallback does (or nobody: 404). The decision travels with the response
(``X-Pyjinn-Route: billing; score=0.71``) and in the access record.

The request's text is the JSON body's ``field`` when the route names one; else the whole body
(UTF-8); else, for a request without a body, its ``q`` query parameter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from pyjinn.backends.embeddings import Embedder
from pyjinn.config.model import MeaningRoute

MAX_TEXT = 16 * 1024  # bytes of the request that are embedded (the model reads 256 tokens)
ROUTE_HEADER = b"x-pyjinn-route"


@dataclass(frozen=True)
class Decision:
    """Where a request goes: ``function`` (None: nowhere), the best ``score`` and the target it
    was for, and whether the fallback took it."""

    function: str | None
    score: float
    nearest: str | None
    fallback: bool = False

    def describe(self) -> str:
        """The decision as the header and the access record show it."""
        name = self.function or "none"
        text = f"{name}; score={self.score:.2f}"
        if self.fallback or self.function is None:
            text += f"; nearest={self.nearest}" if self.nearest else ""
            text += "; fallback" if self.fallback else ""
        return text


class MeaningRouter:
    """One ``route_by_meaning`` route with its texts embedded."""

    def __init__(self, route: MeaningRoute, embedder: Embedder) -> None:
        self.route = route
        self.embedder = embedder
        texts = [text for target in route.targets for text in target.texts]
        self._owners = [index for index, target in enumerate(route.targets) for _ in target.texts]
        self._vectors = embedder.embed(texts)

    def decide(self, text: str) -> Decision:
        """Where a request saying ``text`` goes."""
        route = self.route
        if not text.strip():
            return Decision(route.fallback, 0.0, None, fallback=route.fallback is not None)
        vector = self.embedder.embed([text[:MAX_TEXT]])[0]
        scores = self._vectors @ vector
        best_index = int(scores.argmax())
        best = float(scores[best_index])
        nearest = route.targets[self._owners[best_index]].function
        if best >= route.threshold:
            return Decision(nearest, best, nearest)
        return Decision(route.fallback, best, nearest, fallback=route.fallback is not None)


def request_text(route: MeaningRoute, body: bytes, query_string: bytes) -> str:
    """The text a request says (see the module docstring); "" when there is none."""
    data = body[:MAX_TEXT]
    if route.field is not None:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return ""
        value = document.get(route.field) if isinstance(document, dict) else None
        return value[:MAX_TEXT] if isinstance(value, str) else ""
    if data.strip():
        return data.decode("utf-8", "replace")
    values = parse_qs(query_string.decode("latin-1")).get("q")
    return values[0][:MAX_TEXT] if values else ""
