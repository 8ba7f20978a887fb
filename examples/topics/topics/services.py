"""The LLM and the embedding model, as resources: deterministic fakes for the demo.

Operations receive them by type (``llm: FakeLLM``); tests hand in their own with
``pulpo_run(..., resources={"llm": ...})``. A real client would open a connection in
the provider and close it after the ``yield``.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator

from pydantic import BaseModel

from pulpo import resource
from topics.models import Dimension

_COMMON = {
    "about",
    "after",
    "and",
    "for",
    "from",
    "into",
    "that",
    "the",
    "their",
    "them",
    "then",
    "this",
    "with",
    "which",
    "what",
    "when",
    "where",
}


class TransientLLMError(Exception):
    """The model was busy or the connection dropped: the call is worth retrying."""


class LLMAnswer(BaseModel):
    description: str
    dimensions: list[Dimension]


class FakeLLM:
    """Answers from the words of the context; the first ``flaky_calls`` calls fail
    with :class:`TransientLLMError`, as a busy model would."""

    def __init__(self, model: str, flaky_calls: int = 0) -> None:
        self.model = model
        self.calls = 0
        self._flaky_calls = flaky_calls

    async def describe(
        self, topic: str, context: str, max_dimensions: int
    ) -> LLMAnswer:
        self.calls += 1
        if self.calls <= self._flaky_calls:
            raise TransientLLMError(f"{self.model} is busy (call {self.calls})")
        words = sorted(
            {w for w in re.findall(r"[a-z]{4,}", context.lower()) if w not in _COMMON},
            key=lambda word: (-len(word), word),
        )[:max_dimensions]
        dimensions = [
            Dimension(
                name=word,
                description=f"{topic} as seen through {word}",
                importance=round(1 - i / (max_dimensions + 1), 2),
            )
            for i, word in enumerate(words)
        ]
        return LLMAnswer(
            description=f"{topic}: {context.strip()}", dimensions=dimensions
        )


class FakeEmbedder:
    """Unit vectors derived from a hash of the text: same text, same vector."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    def embed(self, text: str) -> list[float]:
        digest = hashlib.sha256(text.encode()).digest()
        raw = [digest[i % len(digest)] - 127.5 for i in range(self.dimensions)]
        norm = math.sqrt(sum(x * x for x in raw)) or 1.0
        return [round(x / norm, 6) for x in raw]


@resource
def llm(model: str = "fake-topics-1", flaky_calls: int = 0) -> Iterator[FakeLLM]:
    """The language model; ``PULPO_RESOURCE_LLM_FLAKY_CALLS=1`` makes its first call
    fail with a transient error, to watch ``topics.enrich`` retry."""
    yield FakeLLM(model, flaky_calls)


@resource
def embedder(dimensions: int = 8) -> FakeEmbedder:
    return FakeEmbedder(dimensions)
