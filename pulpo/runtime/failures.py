"""Why an operation, and with it a flow run, failed: one exception class per code.

A flow run that fails raises the :class:`OperationFailed` of the operation that
failed first (its dependents re-raise the same object). Its class says the
:data:`~pulpo.errors.ErrorCode`, so the code survives where only text does: Prefect
stores a failed run's message as ``<ExceptionClass>: <message>``, which is all the API
and ``--deployment`` runs get back from the worker (:func:`code_of_state`).
"""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

from pulpo.errors import ErrorCode, RunError
from pulpo.runtime.outputs import OutputValidationError

# How Prefect words the message of a flow run that raised (prefect.states).
RAISED = "Flow run encountered an exception: "


class OperationFailed(RunError):
    """An operation raised (or timed out); ``operation`` names it, ``error`` is why."""

    CODE: ClassVar[ErrorCode] = "operation_failed"

    def __init__(self, operation: str, error: BaseException) -> None:
        super().__init__(
            self._sentence(operation, error), operation=operation, code=self.CODE
        )
        self.error = error

    @staticmethod
    def _sentence(operation: str, error: BaseException) -> str:
        return f"operation {operation!r} failed: {describe(error)}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.operation, self.error))


class OperationTimedOut(OperationFailed):
    """An operation ran longer than its ``timeout``."""

    CODE: ClassVar[ErrorCode] = "timeout"


class OutputInvalid(OperationFailed):
    """An operation returned data that does not fit its declared datamodel."""

    CODE: ClassVar[ErrorCode] = "validation"


class UpstreamFailed(OperationFailed):
    """An operation the flow runs only to produce its inputs (outside its namespace)
    failed, so the flow's own operations that need it did not run."""

    CODE: ClassVar[ErrorCode] = "upstream_failed"

    @staticmethod
    def _sentence(operation: str, error: BaseException) -> str:
        return (
            f"operation {operation!r}, which it runs for its inputs, failed: "
            f"{describe(error)}"
        )


_BY_CODE: dict[ErrorCode, type[OperationFailed]] = {
    cls.CODE: cls for cls in (OperationFailed, OperationTimedOut, OutputInvalid)
}
CODES_BY_CLASS: dict[str, ErrorCode] = {
    cls.__name__: cls.CODE
    for cls in (OperationFailed, OperationTimedOut, OutputInvalid, UpstreamFailed)
}


def failure(operation: str, error: BaseException) -> OperationFailed:
    """The :class:`OperationFailed` (subclass) for ``error`` of ``operation``, as seen
    from the flow run this is called in."""
    if not _own_operation(operation):
        return UpstreamFailed(operation, error)
    return _BY_CODE[code_of_error(error)](operation, error)


def code_of_error(error: BaseException) -> ErrorCode:
    """``timeout``, ``validation`` or ``operation_failed``: what an operation's own
    failure (the exception of its last attempt) was."""
    if type(error).__name__ == "TaskRunTimeoutError":
        return "timeout"
    if isinstance(error, OutputValidationError):
        return "validation"
    return "operation_failed"


def code_of_state(state: Any) -> ErrorCode | None:
    """The error code of a flow run in Prefect ``state`` (None unless it ended badly)."""
    kind = state.type.value if state is not None else None
    if kind == "CANCELLED":
        return "cancelled"
    if kind == "CRASHED":
        return "crashed"
    if kind != "FAILED":
        return None
    if state.name == "TimedOut":  # the flow's own timeout (Prefect's state name)
        return "timeout"
    message = (state.message or "").removeprefix(RAISED)
    return CODES_BY_CLASS.get(message.partition(":")[0], "failed")


def _own_operation(operation: str) -> bool:
    """Whether ``operation`` belongs to the namespace of the running flow (True
    outside a flow run)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow is None:
        return True
    parts = operation.split(".")
    # The flow of a namespace: its dots become "_", then "_flow" (hierarchy.flow_name).
    return any(
        "_".join(parts[:depth]) + "_flow" == context.flow.name
        for depth in range(1, len(parts) + 1)
    )


def describe(error: BaseException) -> str:
    """``Type: message`` with a hint for failures users cannot read off the type."""
    text = f"{type(error).__name__}: {error}"
    if type(error).__name__ == "TaskRunTimeoutError":
        text += (
            " (a synchronous function cannot be stopped: it may still be running "
            "until this process ends)"
        )
    if type(error).__name__ == "CollectionWasNotInitialized":
        text += " (Beanie is not initialised: run `pulpo up` or set MONGODB_URL)"
    if isinstance(error, pickle.PicklingError) or "pickle" in str(error).lower():
        text += (
            " (values passed to and returned from tasks that run in other processes "
            "must pickle: return plain data or pydantic models)"
        )
    return text
