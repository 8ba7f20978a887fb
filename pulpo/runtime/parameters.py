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


def coerce(raw: str, annotation: Any) -> Any:
    """JSON when the text is valid JSON, else the text itself.

    A parameter typed as a string keeps its text unless the JSON is itself a string,
    so ``keywords=123`` stays ``"123"``.
    """
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(value, str) and _accepts_only_text(annotation):
        return raw
    return value


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
                f"{did_you_mean(name, by_name)}; its parameters: {listed}"
            )
    for slot in slots:
        if slot.required and slot.name not in raw:
            users = (
                f" (used by {', '.join(slot.operations)})" if slot.operations else ""
            )
            raise RunError(
                f"flow {flow!r} needs parameter {slot.name!r}{users}; pass "
                f"--param {slot.name}=VALUE"
            )
    values = {}
    for name, text in raw.items():
        annotation = by_name[name].annotation
        try:
            values[name] = TypeAdapter(annotation).validate_python(
                coerce(text, annotation)
            )
        except ValidationError as error:
            problem = error.errors()[0]["msg"]
            raise RunError(
                f"invalid value {text!r} for parameter {name!r} of flow {flow!r}: {problem}"
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
