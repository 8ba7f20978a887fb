"""Request types that only admit what Prefect and the database can store.

JSON integers beyond 64 bits, booleans or strings where integers are expected, and lone UTF-16
surrogates (``"\\ud800"``) all validate as Python values; Prefect's listings and
BSON then fail on them later, for everyone. ``storable`` tightens an annotation so
that such values are a 422 naming the field instead.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Strict

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def no_lone_surrogates(text: str) -> str:
    """``text`` when it can be written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"contains an unpaired UTF-16 surrogate at position {error.start}; send "
            f"valid Unicode"
        ) from None
    return text


def within_int64(number: int) -> int:
    """``number`` when MongoDB and Prefect's database can store it (64 bits)."""
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(
            f"must be between {INT64_MIN} and {INT64_MAX} (a 64-bit integer)"
        )
    return number


def integer_not_bool_or_text(value: Any) -> Any:
    """Refuse what lax validation would turn into an integer but JSON Schema's
    ``integer`` does not admit: ``true`` and ``"2"`` (``2.0`` it admits, and so do we)."""
    if isinstance(value, bool | str | bytes):
        raise ValueError(f"must be an integer, not {type(value).__name__}")
    return value


# Validators, not Field(ge=, le=): those would replace the field's own bounds.
StorableInt = Annotated[
    int, BeforeValidator(integer_not_bool_or_text), AfterValidator(within_int64)
]
StorableBool = Annotated[bool, Strict()]
StorableFloat = Annotated[float, Strict()]  # an int is a float; a bool is not
StorableStr = Annotated[str, AfterValidator(no_lone_surrogates)]
_SCALARS: dict[Any, Any] = {
    int: StorableInt,
    bool: StorableBool,
    float: StorableFloat,
    str: StorableStr,
}
_REBUILT = (list, tuple, set, frozenset, dict)


def storable(annotation: Any) -> Any:
    """``annotation`` with every ``int``, ``float``, ``bool`` and ``str`` in it made
    storable (inside unions, ``Annotated`` and containers; models are left as they
    are)."""
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is Annotated:
        inner, *metadata = arguments
        return Annotated[(storable(inner), *metadata)]  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        members = tuple(storable(member) for member in arguments)
        return typing.Union[members]  # noqa: UP007 - built from a tuple
    if origin in _REBUILT and arguments:
        parts = tuple(a if a is Ellipsis else storable(a) for a in arguments)
        return origin[parts if len(parts) > 1 else parts[0]]
    return annotation
