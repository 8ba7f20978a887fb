"""Run one generated flow in this process and report its result as JSON."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import typing
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

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


def run_flow(
    flow: Any,
    parameters: dict[str, Any],
    timeout: float | None = None,
    refresh_cache: bool = False,
) -> Any:
    """Validate ``parameters`` against ``flow``, run it and return its result.

    With ``refresh_cache`` every cached operation runs again and stores its new
    result (Prefect's ``PREFECT_TASKS_REFRESH_CACHE``, for this run only; task runner
    processes receive it with the run's settings).

    Raises:
        RunError: parameters of the wrong type, the flow failed, or it ran longer
            than ``timeout`` seconds (or its own timeout); with the ``code`` of the
            failure.
    """
    from prefect.exceptions import ParameterTypeError
    from prefect.flow_engine import FlowRunTimeoutError

    try:
        flow.validate_parameters(parameters)
    except ParameterTypeError as error:
        details = str(error).replace("\n", " ").strip()
        raise RunError(
            f"invalid parameters for flow {flow.name!r}: {details}"
        ) from None
    if timeout is not None:
        flow = flow.with_options(timeout_seconds=timeout)
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    settings = (
        temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True})
        if refresh_cache
        else contextlib.nullcontext()
    )
    try:
        try:
            with settings:
                return asyncio.run(flow(**parameters))
        except BaseException:
            _flush_prefect_events()  # so that its lines come before the command's error
            raise
    except FlowRunTimeoutError:
        if timeout is not None:
            message = (
                f"flow {flow.name!r} did not finish within --timeout {timeout:g} s "
                f"(synchronous operations may still be running until this process "
                f"ends)"
            )
        else:  # the flow's own timeout, from its settings
            message = (
                f"flow {flow.name!r} timed out after {flow.timeout_seconds:g} s: its "
                f"running operations were cancelled and no further ones started (a "
                f"synchronous function may run on until this process ends)"
            )
        raise RunError(message, flow=flow.name, code="timeout") from None
    except Exception as error:
        raise RunError(
            f"flow {flow.name!r} failed: {error}",
            flow=flow.name,
            operation=getattr(error, "operation", None),
            code=getattr(error, "code", None) or "failed",
        ) from error


def _flush_prefect_events() -> None:
    """Send Prefect's queued events and logs now instead of at interpreter exit."""
    try:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        for worker in (EventsWorker, APILogWorker):
            worker.drain_all(timeout=5)
    except Exception:  # noqa: BLE001 - best effort: Prefect drains at exit anyway
        pass


def result_json(result: Any) -> str:
    """The flow's result as indented JSON (models as their fields).

    ``bytes`` are text when they are UTF-8, else base64.
    """
    try:
        data = to_jsonable_python(result, fallback=repr)
    except (PydanticSerializationError, UnicodeDecodeError):  # bytes, not UTF-8
        data = to_jsonable_python(result, fallback=repr, bytes_mode="base64")
    return json.dumps(data, indent=2)
