"""Schemas derived from a Beanie document: the model's own fields and constraints."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from beanie import Document, Indexed
from pydantic import BaseModel, Field, ValidationError

from pulpo.api.schemas import MAX_PAGE_SIZE, document_schemas


class Address(BaseModel):
    city: str


class Shop(Document):
    """A shop."""

    code: Annotated[str, Indexed(unique=True)] = Field(max_length=8)
    name: str = Field(min_length=1)
    rating: float = 0.0
    kind: Literal["bakery", "butcher"] | None = None
    address: Address | None = None
    tags: list[str] = Field(default_factory=list)


def test_create_has_the_fields_and_constraints_without_id() -> None:
    create = document_schemas(Shop).create
    assert set(create.model_fields) == {
        "code",
        "name",
        "rating",
        "kind",
        "address",
        "tags",
    }
    assert create(code="A1", name="Bob").model_dump(exclude_unset=True) == {
        "code": "A1",
        "name": "Bob",
    }
    with pytest.raises(ValidationError, match="code"):
        create(code="TOO-LONG-CODE", name="Bob")
    with pytest.raises(ValidationError, match="Extra inputs"):
        create(code="A1", name="Bob", id="x")


def test_update_makes_every_field_optional_but_keeps_limits() -> None:
    update = document_schemas(Shop).update
    assert update().model_dump(exclude_unset=True) == {}
    assert update(rating=4.5).model_dump(exclude_unset=True) == {"rating": 4.5}
    with pytest.raises(ValidationError, match="code"):
        update(code="TOO-LONG-CODE")
    with pytest.raises(ValidationError, match="name"):
        update(name=None)  # optional, but the model does not allow null
    assert update(kind=None).model_dump(exclude_unset=True) == {"kind": None}


def test_query_filters_scalar_fields_and_caps_the_page() -> None:
    schemas = document_schemas(Shop)
    assert schemas.filters == ("code", "name", "rating", "kind")
    assert schemas.unique == ("code",)
    query = schemas.query
    assert query(kind="bakery", sort="-rating").model_dump(exclude_none=True) == {
        "skip": 0,
        "limit": 50,
        "sort": "-rating",
        "kind": "bakery",
    }
    for bad in ({"limit": MAX_PAGE_SIZE + 1}, {"sort": "address"}, {"tags": "x"}):
        with pytest.raises(ValidationError):
            query(**bad)


def test_read_is_named_after_the_model_and_has_a_string_id() -> None:
    read = document_schemas(Shop).read
    assert read.__name__ == "Shop"
    assert read.model_json_schema()["properties"]["id"]["type"] == "string"
