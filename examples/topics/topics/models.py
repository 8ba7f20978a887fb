"""The stages of the pipeline, one datamodel each, and the stored document."""

from __future__ import annotations

from typing import Annotated

from beanie import Document, Indexed
from pydantic import BaseModel, Field

from pulpo import datamodel


class TopicRequest(BaseModel):
    """What a caller asks for; checked by ``topics.validate`` before anything runs."""

    topic_name: str = Field(min_length=1, max_length=200)
    context: str = Field(min_length=10)
    tenant: str = Field(min_length=1, pattern=r"^[a-z0-9-]+$")
    max_dimensions: int = Field(default=3, ge=1, le=10)


class Dimension(BaseModel):
    name: str
    description: str
    importance: float = Field(ge=0.0, le=1.0)


@datamodel
class ValidatedRequest(BaseModel):
    """A request that passed validation, with the key it is stored under."""

    topic_name: str
    context: str
    tenant: str
    max_dimensions: int
    key: str  # tenant/slug: the same topic asked twice is stored once


@datamodel
class EnrichedTopic(BaseModel):
    """The topic with a description and dimensions from the LLM."""

    key: str
    tenant: str
    topic_name: str
    description: str
    dimensions: list[Dimension]
    model: str


@datamodel
class EmbeddedTopic(BaseModel):
    """The enriched topic with a vector for similarity search."""

    topic: EnrichedTopic
    vector: list[float]


@datamodel
class TopicRecord(Document):
    """A stored topic; ``key`` is unique, so storing a topic again updates it."""

    key: Annotated[str, Indexed(unique=True)]
    tenant: str
    topic_name: str
    description: str
    dimensions: list[Dimension]
    vector: list[float]
    model: str

    class Settings:
        name = "topics"


@datamodel
class PersistedTopic(BaseModel):
    """What storing did: the record's id, whether it was new, the tenant's count."""

    topic_id: str
    key: str
    created: bool
    topics_of_tenant: int


@datamodel
class TopicResult(BaseModel):
    """The pipeline's answer."""

    topic_id: str
    key: str
    created: bool
    dimensions: list[str]
    vector_size: int
