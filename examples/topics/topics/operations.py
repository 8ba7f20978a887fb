"""The topic pipeline: validate → enrich (LLM) → embed → persist → finish.

Every stage takes the previous stage's datamodel, so pulpo chains them in this order
in ``topics_flow``; the LLM and the embedder arrive as resources.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from pulpo import operation
from topics.models import (
    EmbeddedTopic,
    EnrichedTopic,
    PersistedTopic,
    TopicRecord,
    TopicRequest,
    TopicResult,
    ValidatedRequest,
)
from topics.services import FakeEmbedder, FakeLLM, TransientLLMError


class InvalidTopicRequest(ValueError):
    """The request breaks a rule of :class:`TopicRequest`; retrying cannot help."""


@operation(name="topics.validate", outputs=ValidatedRequest)
def validate(
    topic_name: str, context: str, tenant: str = "demo", max_dimensions: int = 3
) -> ValidatedRequest:
    """Check the request at the boundary and give it its storage key."""
    try:
        request = TopicRequest(
            topic_name=topic_name.strip(),
            context=context.strip(),
            tenant=tenant,
            max_dimensions=max_dimensions,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise InvalidTopicRequest(
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None
    slug = re.sub(r"[^a-z0-9]+", "-", request.topic_name.lower()).strip("-")
    return ValidatedRequest(**request.model_dump(), key=f"{request.tenant}/{slug}")


@operation(
    name="topics.enrich",
    inputs=ValidatedRequest,
    outputs=EnrichedTopic,
    retries=3,
    retry_delay=0.2,
    retry_on=TransientLLMError,
    timeout=30,
    cache=True,
    cache_expiration=24 * 3600,
)
async def enrich(request: ValidatedRequest, llm: FakeLLM) -> EnrichedTopic:
    """Ask the LLM for a description and dimensions; retried only when the model
    reports a transient error. The answer is kept for a day per request: the same
    request again does not call the model."""
    answer = await llm.describe(
        request.topic_name, request.context, request.max_dimensions
    )
    return EnrichedTopic(
        key=request.key,
        tenant=request.tenant,
        topic_name=request.topic_name,
        description=answer.description,
        dimensions=answer.dimensions,
        model=llm.model,
    )


@operation(name="topics.embed", inputs=EnrichedTopic, outputs=EmbeddedTopic)
def embed(topic: EnrichedTopic, embedder: FakeEmbedder) -> EmbeddedTopic:
    """One vector for the topic's name, description and dimensions."""
    text = " ".join(
        [topic.topic_name, topic.description, *(d.name for d in topic.dimensions)]
    )
    return EmbeddedTopic(topic=topic, vector=embedder.embed(text))


@operation(
    name="topics.persist",
    inputs=EmbeddedTopic,
    outputs=PersistedTopic,
    retries=2,
    retry_delay=0.5,
)
async def persist(embedded: EmbeddedTopic) -> PersistedTopic:
    """Upsert by key: storing the same topic twice updates one record."""
    topic = embedded.topic
    fields = {
        "tenant": topic.tenant,
        "topic_name": topic.topic_name,
        "description": topic.description,
        "dimensions": [d.model_dump() for d in topic.dimensions],
        "vector": embedded.vector,
        "model": topic.model,
    }
    existing = await TopicRecord.find_one(TopicRecord.key == topic.key)
    await TopicRecord.find_one(TopicRecord.key == topic.key).upsert(
        {"$set": fields},
        on_insert=TopicRecord(key=topic.key, **fields),
    )
    stored = await TopicRecord.find_one(TopicRecord.key == topic.key)
    assert stored is not None  # the upsert wrote it
    return PersistedTopic(
        topic_id=str(stored.id),
        key=topic.key,
        created=existing is None,
        topics_of_tenant=await TopicRecord.find(
            TopicRecord.tenant == topic.tenant
        ).count(),
    )


@operation(
    name="topics.finish", inputs=[PersistedTopic, EmbeddedTopic], outputs=TopicResult
)
def finish(persisted: PersistedTopic, embedded: EmbeddedTopic) -> TopicResult:
    """The answer for the caller."""
    return TopicResult(
        topic_id=persisted.topic_id,
        key=persisted.key,
        created=persisted.created,
        dimensions=[d.name for d in embedded.topic.dimensions],
        vector_size=len(embedded.vector),
    )
