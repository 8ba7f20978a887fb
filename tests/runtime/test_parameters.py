from typing import Literal

import pytest

from pulpo import RunError
from pulpo.runtime.parameters import ParameterSlot, bind, coerce, parse_assignments


def test_assignments_split_on_the_first_equals_sign() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}


@pytest.mark.parametrize("item", ["novalue", "=1"])
def test_malformed_assignments_are_rejected(item: str) -> None:
    with pytest.raises(RunError, match="malformed --param"):
        parse_assignments([item])


def test_repeated_parameters_are_rejected() -> None:
    with pytest.raises(RunError, match="given twice"):
        parse_assignments(["a=1", "a=2"])


@pytest.mark.parametrize(
    ("raw", "annotation", "value"),
    [
        ("5", int, 5),
        ("[1, 2]", list[int], [1, 2]),
        ('{"k": true}', dict, {"k": True}),
        ("python", str, "python"),
        ("123", str, "123"),
        ('"quoted"', str, "quoted"),
        ("null", str | None, "null"),
        ("fast", Literal["fast", "slow"], "fast"),
        ("not json", object, "not json"),
    ],
)
def test_values_are_json_unless_the_parameter_takes_text(
    raw: str, annotation: object, value: object
) -> None:
    assert coerce(raw, annotation) == value


def test_bind_validates_against_the_slots() -> None:
    slots = [
        ParameterSlot("keywords", str, True, ("scraping.fetch",)),
        ParameterSlot("limit", int, False),
    ]
    assert bind("f", slots, {"keywords": "go", "limit": "3"}) == {
        "keywords": "go",
        "limit": 3,
    }
    with pytest.raises(
        RunError, match="needs parameter 'keywords' \\(used by scraping.fetch\\)"
    ):
        bind("f", slots, {})
    with pytest.raises(RunError, match="invalid value 'many' for parameter 'limit'"):
        bind("f", slots, {"keywords": "go", "limit": "many"})
    with pytest.raises(
        RunError, match="no parameter 'limits' \\(did you mean 'limit'\\?\\)"
    ):
        bind("f", slots, {"keywords": "go", "limits": "1"})
