"""``Hooks``: the hook for how a call ended runs once, with the call's inputs, and a
hook that raises leaves the outcome alone.

The task is a stand-in with what ``run_task`` uses of a Prefect task (awaitable call,
``name``); Prefect's retries happen inside the real one, before it returns or raises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from pulpo.hooks import CompletedOperation, FailedOperation
from pulpo.runtime import Hooks, OperationFailed

SEEN: list[Any] = []


class StandInTask:
    name = "saga.dimensions"

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    async def __call__(self, **kwargs: Any) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def remember(event: Any) -> None:
    SEEN.append(event)


async def remember_async(event: Any) -> None:
    SEEN.append(event)


def broken(event: Any) -> None:
    raise RuntimeError("the undo failed too")


@pytest.fixture(autouse=True)
def fresh() -> None:
    SEEN.clear()


def run(hooks: Hooks, task: StandInTask) -> Any:
    return asyncio.run(hooks.run_task(task, created="topic-1"))  # type: ignore[arg-type]


def test_on_failure_gets_the_operation_inputs_error_and_code_once() -> None:
    error = ValueError("store down")
    with pytest.raises(OperationFailed) as raised:
        run(Hooks(on_failure=remember, on_completion=remember), StandInTask(error))
    assert raised.value.error is error
    assert SEEN == [
        FailedOperation(
            "saga.dimensions", {"created": "topic-1"}, error, "operation_failed"
        )
    ]


def test_on_completion_gets_the_output_and_async_hooks_are_awaited() -> None:
    hooks = Hooks(on_failure=remember, on_completion=remember_async)
    assert run(hooks, StandInTask("done")) == "done"
    assert SEEN == [
        CompletedOperation("saga.dimensions", {"created": "topic-1"}, "done")
    ]


def test_a_hook_that_raises_is_logged_and_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="pulpo.hooks"):
        assert run(Hooks(on_completion=broken), StandInTask("done")) == "done"
        with pytest.raises(OperationFailed, match="store down"):
            run(Hooks(on_failure=broken), StandInTask(ValueError("store down")))
    assert [r.getMessage() for r in caplog.records] == [
        "on_completion hook broken of operation 'saga.dimensions' raised",
        "on_failure hook broken of operation 'saga.dimensions' raised",
    ]
    assert all(
        r.exc_info and "the undo failed too" in str(r.exc_info[1])
        for r in caplog.records
    )
