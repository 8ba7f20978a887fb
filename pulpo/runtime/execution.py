"""Run one generated flow in this process and report its result as JSON."""

from __future__ import annotations

import asyncio
import inspect
import json
import typing
from typing import Any

from pydantic_core import to_jsonable_python

from pulpo.errors import RunError
from pulpo.runtime.parameters import ParameterSlot


def slots_of(flow: Any) -> list[ParameterSlot]:
    """The parameters a Prefect flow object accepts."""
    hints = typing.get_type_hints(flow.fn)
    return [
        ParameterSlot(
            p.name, hints.get(p.name, Any), p.default is inspect.Parameter.empty
        )
        for p in inspect.signature(flow.fn).parameters.values()
    ]


def run_flow(flow: Any, parameters: dict[str, Any]) -> Any:
    """Validate ``parameters`` against ``flow``, run it and return its result.

    Raises:
        RunError: parameters of the wrong type, or the flow failed.
    """
    from prefect.exceptions import ParameterTypeError

    try:
        flow.validate_parameters(parameters)
    except ParameterTypeError as error:
        details = str(error).replace("\n", " ").strip()
        raise RunError(
            f"invalid parameters for flow {flow.name!r}: {details}"
        ) from None
    try:
        return asyncio.run(flow(**parameters))
    except Exception as error:
        raise RunError(f"flow {flow.name!r} failed: {error}") from error


def result_json(result: Any) -> str:
    """The flow's result as indented JSON (models as their fields)."""
    return json.dumps(to_jsonable_python(result, fallback=repr), indent=2)
