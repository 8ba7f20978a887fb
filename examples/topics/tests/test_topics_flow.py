"""The topic pipeline, run in-process with pulpo's test kit."""

from __future__ import annotations

import pytest
from topics.services import FakeLLM

from pulpo.testing import FlowFailed

STAGES = [
    "topics.validate",
    "topics.enrich",
    "topics.embed",
    "topics.persist",
    "topics.finish",
]
REQUEST = {
    "topic_name": "Vector databases",
    "context": "Storing embeddings for similarity search across tenants",
}


class BrokenLLM(FakeLLM):
    """Fails in a way retrying cannot fix."""

    async def describe(self, topic: str, context: str, max_dimensions: int):
        self.calls += 1
        raise ValueError("the model answered with something that is not JSON")


def test_the_stages_run_in_order(pulpo_run, memory):
    result = pulpo_run(
        "topics_flow", REQUEST, operations={"topics.persist": memory.persist}
    )

    assert result.ran == STAGES
    answer = result.output("topics.finish")
    assert answer.key == "demo/vector-databases"
    assert answer.dimensions == ["embeddings", "similarity", "storing"]
    assert answer.vector_size == 8  # [tool.pulpo.resources.embedder] dimensions
    assert result.output("topics.enrich").model == "fake-topics-1"
    assert list(memory.records) == ["demo/vector-databases"]


def test_a_transient_llm_error_is_retried(pulpo_run, memory):
    llm = FakeLLM("test-model", flaky_calls=2)

    result = pulpo_run(
        "topics_flow",
        REQUEST,
        resources={"llm": llm},
        operations={"topics.persist": memory.persist},
    )

    assert llm.calls == 3
    assert result.output("topics.enrich").model == "test-model"
    assert result.ran == STAGES


def test_other_llm_errors_fail_at_once(pulpo_run, memory):
    llm = BrokenLLM("test-model")

    with pytest.raises(FlowFailed, match="topics.enrich") as failure:
        pulpo_run(
            "topics_flow",
            REQUEST,
            resources={"llm": llm},
            operations={"topics.persist": memory.persist},
        )

    assert llm.calls == 1
    assert failure.value.result.ran == ["topics.validate", "topics.enrich"]
    assert memory.records == {}


def test_an_invalid_request_stops_before_the_llm(pulpo_run, memory):
    llm = FakeLLM("test-model")

    with pytest.raises(FlowFailed, match="context: String should have at least 10"):
        pulpo_run(
            "topics_flow",
            {"topic_name": "Rust", "context": "too short"},
            resources={"llm": llm},
            operations={"topics.persist": memory.persist},
        )

    assert llm.calls == 0


def test_the_same_request_reuses_the_cached_enrichment(pulpo_run, memory):
    request = {**REQUEST, "tenant": "cached"}
    first_llm, second_llm = FakeLLM("test-model"), FakeLLM("test-model")

    first = pulpo_run(
        "topics_flow",
        request,
        resources={"llm": first_llm},
        operations={"topics.persist": memory.persist},
        use_cache=True,
    )
    second = pulpo_run(
        "topics_flow",
        request,
        resources={"llm": second_llm},
        operations={"topics.persist": memory.persist},
        use_cache=True,
    )

    assert (first_llm.calls, second_llm.calls) == (1, 0)
    assert "topics.enrich" not in second.ran  # its result came from the cache
    assert second.output("topics.finish").dimensions == (
        first.output("topics.finish").dimensions
    )


def test_storing_a_topic_twice_updates_one_record(pulpo_run, stored_in):
    first = pulpo_run("topics_flow", {**REQUEST, "tenant": "acme"})
    second = pulpo_run("topics_flow", {**REQUEST, "tenant": "acme"})

    assert first.output("topics.persist").created
    assert not second.output("topics.persist").created
    assert (
        second.output("topics.persist").topic_id
        == first.output("topics.persist").topic_id
    )
    assert second.output("topics.persist").topics_of_tenant == 1
