"""``Hooks``: run an operation's task, then its ``on_failure`` or ``on_completion``.

Generated flow bodies call ``Hooks(on_failure=undo).run_task(task, **inputs)`` instead
of ``run_task(task, **inputs)`` for an operation declared with hooks. The hooks run in
the flow's process once the task has ended for good (Prefect retries inside the
task), so they run once per call whatever the task runner, see the call's inputs, and
need not pickle.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pulpo.hooks import CompletedOperation, FailedOperation, OnCompletion, OnFailure
from pulpo.runtime.failures import OperationFailed, code_of_error
from pulpo.runtime.tasks import run_submitted, run_task
from pulpo.runtime.threads import in_thread

if TYPE_CHECKING:
    from prefect import Task

P = ParamSpec("P")
R = TypeVar("R")


class Hooks:
    """An operation's ``on_failure`` and ``on_completion`` hooks (either may be None)."""

    def __init__(
        self,
        *,
        on_failure: OnFailure | None = None,
        on_completion: OnCompletion | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.on_completion = on_completion

    async def run_task(
        self,
        task: Task[P, Coroutine[Any, Any, R]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """:func:`pulpo.runtime.run_task`, then the hook for how it ended."""
        try:
            output = await run_task(task, *args, **kwargs)
        except OperationFailed as failed:
            await self._failed(failed, kwargs)
            raise
        await self._completed(task.name, output, kwargs)
        return output

    async def run_submitted(
        self, task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """:func:`pulpo.runtime.run_submitted`, then the hook for how it ended."""
        try:
            output = await run_submitted(task, *args, **kwargs)
        except OperationFailed as failed:
            await self._failed(failed, kwargs)
            raise
        await self._completed(task.name, output, kwargs)
        return output

    async def _failed(self, failed: OperationFailed, inputs: dict[str, Any]) -> None:
        if self.on_failure is not None:
            operation = failed.operation or ""
            event = FailedOperation(
                operation, dict(inputs), failed.error, code_of_error(failed.error)
            )
            await _call(self.on_failure, event, "on_failure", operation)

    async def _completed(
        self, operation: str, output: Any, inputs: dict[str, Any]
    ) -> None:
        if self.on_completion is not None:
            event = CompletedOperation(operation, dict(inputs), output)
            await _call(self.on_completion, event, "on_completion", operation)


async def _call(hook: Any, event: Any, kind: str, operation: str) -> None:
    """Run ``hook(event)``: a coroutine function awaited, a plain one in a thread.

    A hook that raises is logged with its traceback and does not change how the
    operation ended (as Prefect's own state hooks).
    """
    name = getattr(hook, "__qualname__", repr(hook))
    try:
        if inspect.iscoroutinefunction(hook):
            await hook(event)
        else:
            await in_thread(hook, event)
    except Exception:
        _logger().error(
            "%s hook %s of operation %r raised", kind, name, operation, exc_info=True
        )


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("pulpo.hooks")
