"""Request types admit only storable values and keep the model's own constraints."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, ValidationError, create_model

from pulpo.api.storable import storable

Stars = create_model(
    "Stars",
    stars=(storable(int), Field(0, ge=0, le=5)),
    title=(storable(Annotated[str, Field(max_length=3)]), "a"),
    tags=(storable(list[str] | None), None),
    ratio=(storable(float), 0.0),
)


@pytest.mark.parametrize(
    "values",
    [
        {"stars": 6},  # the field's own bound still applies
        {"stars": True},
        {"stars": "2"},
        {"stars": 2.5},
        {"stars": 2**64},
        {"title": "long"},
        {"title": "\ud800"},
        {"tags": ["ok", "\udfff"]},
        {"ratio": False},
    ],
)
def test_what_cannot_be_stored_or_breaks_a_constraint_is_refused(
    values: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        Stars(**values)


def test_ordinary_values_pass_and_the_schema_keeps_the_models_bounds() -> None:
    accepted = Stars(stars=5, title="abc", tags=["x"], ratio=1)
    assert (accepted.stars, accepted.ratio) == (5, 1.0)
    stars = Stars.model_json_schema()["properties"]["stars"]
    assert (stars["minimum"], stars["maximum"]) == (0, 5)


def test_an_integral_number_is_an_integer_as_json_schema_says() -> None:
    assert Stars.model_validate_json('{"stars": 2.0}').stars == 2
