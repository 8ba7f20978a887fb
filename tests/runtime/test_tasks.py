"""Runtime helpers that generated flow bodies call."""

from __future__ import annotations

import asyncio
import gc
import pickle
import sys
import time

import pytest

from pulpo.errors import RunError
from pulpo.runtime import OperationFailed, dask_cluster, gather_limited, wait_all


def test_operation_failures_survive_pickling_across_processes() -> None:
    error = OperationFailed("a.b", ValueError("boom"))
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.operation, str(copy)) == (
        "a.b",
        "operation 'a.b' failed: ValueError: boom",
    )
    assert isinstance(copy.error, ValueError)


def test_gather_limited_keeps_order_and_the_limit() -> None:
    running, most = 0, 0

    async def call(index: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05 * (5 - index))
        running -= 1
        return index

    result = asyncio.run(gather_limited((call(i) for i in range(5)), limit=2))
    assert result == [0, 1, 2, 3, 4] and most == 2


def test_gather_limited_lets_every_call_finish_then_raises_the_failure() -> None:
    finished: list[int] = []

    async def call(index: int) -> int:
        if index == 0:
            raise ValueError("first item is bad")
        await asyncio.sleep(0.05)
        finished.append(index)
        return index

    started = time.monotonic()
    with pytest.raises(ValueError, match="first item is bad"):
        asyncio.run(gather_limited(call(i) for i in range(3)))
    assert sorted(finished) == [1, 2] and time.monotonic() - started >= 0.05


def test_the_dask_runner_without_its_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # as if not installed
    with pytest.raises(RunError, match=r"pip install 'pulpo\[dask\]'"):
        dask_cluster()


def test_a_cancelled_flow_body_cancels_its_steps_while_the_loop_runs_on() -> None:
    """A flow's timeout cancels its body; steps still running must not go on, nor may
    one waiting for them start, even where the event loop outlives the run."""
    ran: list[str] = []

    async def flow_body() -> None:
        async def first() -> int:
            await asyncio.sleep(0.2)
            ran.append("first")
            return 1

        async def second_when_ready() -> int:
            value = await first_step
            ran.append("second")
            return value + 1

        first_step = asyncio.create_task(first())
        second_step = asyncio.create_task(second_when_ready())
        await wait_all([first_step, second_step])

    async def host() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(flow_body(), timeout=0.05)
        await asyncio.sleep(0.4)  # the loop runs on past the first step's end

    asyncio.run(host())
    assert ran == []


def test_failed_steps_are_not_reported_again_as_never_retrieved() -> None:
    """A failure stops its dependents with failures of their own; the flow raises one,
    and asyncio must not print the others' tracebacks when the tasks are collected."""
    reported: list[str] = []

    async def flow_body() -> None:
        async def fails() -> int:
            raise ValueError("boom")

        async def dependent() -> int:
            return await first + 1

        first = asyncio.create_task(fails())
        second = asyncio.create_task(dependent())
        await wait_all([first, second])
        first.result()  # as a generated flow's result reads its steps, in order

    def run() -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(
            lambda _, context: reported.append(context["message"])
        )
        try:
            with pytest.raises(ValueError, match="boom"):
                loop.run_until_complete(flow_body())
        finally:
            loop.close()

    run()
    gc.collect()
    assert reported == []
