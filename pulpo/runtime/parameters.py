"""Flow parameters given as ``key=value`` text on a command line."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pulpo.errors import RunError, did_you_mean


@dataclass(frozen=True)
class ParameterSlot:
    """What a flow accepts for one parameter."""

    name: str
    annotation: Any
    required: bool
    operations: tuple[str, ...] = ()


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``.

    Raises:
        RunError: an item has no ``=``, an empty key, or repeats a key.
    """
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RunError(f"malformed --param {item!r}: write it as name=value")
        if key in parsed:
            raise RunError(f"--param {key!r} is given twice; pass each parameter once")
        parsed[key] = value
    return parsed


def parse_value(raw: str, annotation: Any) -> Any:
    """The value of ``raw`` for a parameter typed ``annotation``.

    Valid JSON is validated strictly (``limit=true`` is not the integer 1), and
    ``null`` is ``None`` when the parameter admits it. A parameter that takes only
    text keeps its text unless the JSON is itself a string, so ``keywords=123`` stays
    ``"123"``. Other text is validated as text (``day=2026-01-01`` is a date).

    Raises:
        ValidationError: the value does not fit ``annotation``.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    try:
        value = json.loads(raw)
    except ValueError:
        return adapter.validate_python(raw)
    if value is None and _admits_none(annotation):
        return None
    if not isinstance(value, str) and _accepts_only_text(annotation):
        return adapter.validate_python(raw)
    return adapter.validate_json(raw, strict=True)


def bind(
    flow: str, slots: Sequence[ParameterSlot], raw: Mapping[str, str]
) -> dict[str, Any]:
    """Check names against ``slots``, then coerce and validate every value.

    Raises:
        RunError: an unknown parameter, a required one missing, or an invalid value.
    """
    by_name = {slot.name: slot for slot in slots}
    for name in raw:
        if name not in by_name:
            listed = ", ".join(by_name) or "none"
            raise RunError(
                f"flow {flow!r} has no parameter {name!r}"
                f"{did_you_mean(name, by_name)}; its parameters: {listed}",
                flow=flow,
                candidates=by_name,
                parameter=name,
            )
    for slot in slots:
        if slot.required and slot.name not in raw:
            users = (
                f" (used by {', '.join(slot.operations)})" if slot.operations else ""
            )
            raise RunError(
                f"flow {flow!r} needs parameter {slot.name!r}{users}; pass "
                f"--param {slot.name}=VALUE",
                flow=flow,
                parameter=slot.name,
                operations=list(slot.operations),
            )
    values = {}
    for name, text in raw.items():
        annotation = by_name[name].annotation
        try:
            values[name] = parse_value(text, annotation)
        except ValidationError as error:
            problem = error.errors()[0]["msg"]
            raise RunError(
                f"invalid value {text!r} for parameter {name!r} of flow {flow!r}: "
                f"{problem}",
                flow=flow,
                parameter=name,
                value=text,
            ) from None
    return values


def _accepts_only_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return all(isinstance(a, str) for a in args)
    if origin in (typing.Union, types.UnionType):
        return bool(args) and all(_accepts_only_text(a) for a in args)
    return False


def _admits_none(annotation: Any) -> bool:
    if annotation is Any or annotation is None or annotation is type(None):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_admits_none(a) for a in typing.get_args(annotation))
    return False
