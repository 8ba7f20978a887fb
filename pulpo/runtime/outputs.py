"""Validation of what operations return, and access to their defaults."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pulpo.errors import RunError

ModelT = TypeVar("ModelT", bound=BaseModel)


class OutputValidationError(RunError):
    """An operation returned data that does not fit its declared datamodel."""


def validate_output(operation: str, model: type[ModelT], value: Any) -> ModelT:
    """Return ``value`` as an instance of ``model``, coercing dicts and similar models.

    Raises:
        OutputValidationError: naming the operation, the model and the first bad field.
    """
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = error.errors()
        first = problems[0]
        field = ".".join(str(part) for part in first["loc"]) or "(the whole value)"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise OutputValidationError(
            f"operation {operation!r} returned data that does not fit "
            f"{model.__name__}: field {field!r}: {first['msg']}{more}",
            operation=operation,
            model=model.__name__,
            field=field,
        ) from None


def default_of(function: Callable[..., Any], parameter: str) -> Any:
    """The default value of ``parameter`` in ``function``'s signature."""
    return inspect.signature(function).parameters[parameter].default
