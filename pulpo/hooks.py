"""What an operation's ``on_failure`` and ``on_completion`` hooks receive.

A hook is a module-level function (sync or async) taking one argument::

    def undo_topic(failed: FailedOperation) -> None:
        delete_topic(failed.inputs["created"].topic_id)

    @operation(name="topics.dimensions", on_failure=undo_topic)
    def add_dimensions(created: CreatedTopic) -> FinalResult: ...

It runs once per call of the operation, after the last attempt (retries exhausted),
in the flow run's process. An operation that never started because an input failed
calls no hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulpo.errors import ErrorCode


@dataclass(frozen=True)
class FailedOperation:
    """An operation that failed for good.

    Attributes:
        operation: Its dotted name.
        inputs: The arguments of the failed call, by parameter name.
        error: What the last attempt raised (``TaskRunTimeoutError`` for its
            ``timeout``, ``OutputValidationError`` for a wrong return value).
        code: ``operation_failed``, ``timeout`` or ``validation``.
    """

    operation: str
    inputs: Mapping[str, Any]
    error: BaseException
    code: ErrorCode


@dataclass(frozen=True)
class CompletedOperation:
    """An operation that returned.

    Attributes:
        operation: Its dotted name.
        inputs: The arguments of the call, by parameter name.
        output: What it returned (validated into its datamodel).
    """

    operation: str
    inputs: Mapping[str, Any]
    output: Any


OnFailure = Callable[[FailedOperation], None | Awaitable[None]]
OnCompletion = Callable[[CompletedOperation], None | Awaitable[None]]
