import json
from datetime import date
from typing import Literal

import pytest
from pydantic import ValidationError

from pulpo import RunError
from pulpo.runtime.parameters import ParameterSlot, bind, parse_assignments, parse_value


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
        ("null", str | None, None),
        ("null", str, "null"),
        ("true", bool, True),
        ("2026-01-02", str, "2026-01-02"),
        ('"2026-01-02"', str, "2026-01-02"),
        ("fast", Literal["fast", "slow"], "fast"),
        ("not json", object, "not json"),
    ],
)
def test_values_are_json_unless_the_parameter_takes_text(
    raw: str, annotation: object, value: object
) -> None:
    assert parse_value(raw, annotation) == value


def test_text_that_is_not_json_is_validated_as_text() -> None:
    assert parse_value("2026-01-02", date) == date(2026, 1, 2)


@pytest.mark.parametrize(
    ("raw", "annotation"),
    [("true", int), ("false", int | None), ("1", bool), ("1.5", int)],
)
def test_json_values_are_not_converted_to_another_type(
    raw: str, annotation: object
) -> None:
    with pytest.raises(ValidationError):
        parse_value(raw, annotation)


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


def test_a_result_with_bytes_that_are_not_utf8_prints_as_base64() -> None:
    from pulpo.runtime.execution import result_json

    assert json.loads(result_json({"raw": b"\xff\xfe"})) == {"raw": "__4="}
    assert json.loads(result_json({"raw": b"ok"})) == {"raw": "ok"}
