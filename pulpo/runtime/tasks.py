"""What generated flow bodies call to run an operation's task and name its failure.

``run_task`` awaits an async task on the flow's own event loop (the default,
``threads``: sync functions run in worker threads). ``run_submitted`` hands the task
to the flow's task runner (``processes``, ``dask``) and awaits its future without
blocking the loop. Both raise an :class:`OperationFailed` naming the operation, its
class the error code (``pulpo.runtime.failures``), so that a dependent that awaited
the failure re-raises the same, already named, error.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from pulpo.runtime.database import init_documents
from pulpo.runtime.failures import OperationFailed, failure

if TYPE_CHECKING:
    from prefect import Task
    from prefect.futures import PrefectFuture

P = ParamSpec("P")
R = TypeVar("R")

_THREAD = threading.local()


class _LoggedByTheTask(logging.Filter):
    """Drop the traceback from a flow run's failure log when a task logged it already.

    Prefect logs an operation's traceback when its task fails, then the whole chain
    again when the flow fails with :class:`OperationFailed`; the message line stays.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], OperationFailed):
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("prefect.flow_runs").addFilter(_LoggedByTheTask())


async def run_task(
    task: Task[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run an async Prefect task in this flow run and return its result."""
    try:
        if not _caches(task):
            return await task(*args, **kwargs)
        # Only the state tells whether the result came from the cache.
        state = await cast(Any, task)(*args, return_state=True, **kwargs)
        _note_cache_hit(task, state)
        return cast(R, await state.aresult())
    except OperationFailed:
        raise
    except Exception as error:
        raise failure(task.name, error) from error


async def run_submitted(task: Task[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Submit a task to the flow's task runner and await its result."""
    try:
        future = task.submit(*args, **kwargs)
        await _settled(future)
        result = future.result()
        if _caches(task):
            _note_cache_hit(task, future.state)  # final: read without a request
        return result
    except OperationFailed:
        raise
    except Exception as error:
        raise failure(task.name, error) from error


async def wait_all(steps: Iterable[asyncio.Task[Any]]) -> None:
    """Wait until every step of a flow body has ended, failed ones included.

    When the flow itself is cancelled (its timeout, a cancel, Ctrl-C), the steps still
    running are cancelled too, so that no operation starts after its run ended, also
    where the event loop outlives the run.
    """
    pending = list(steps)
    try:
        await asyncio.wait(pending)
    except asyncio.CancelledError:
        for step in pending:
            step.cancel()
        raise
    for step in pending:
        # The flow raises one failure, through its result; the others' tracebacks
        # would otherwise be logged again as "Task exception was never retrieved".
        if not step.cancelled():
            step.exception()


async def gather_limited(
    calls: Iterable[Awaitable[R]], limit: int | None = None
) -> list[R]:
    """Await every call, at most ``limit`` at a time; results in the calls' order.

    Every call runs to its end even when one fails; then the first failure is raised.
    """
    semaphore = asyncio.Semaphore(limit) if limit else None

    async def bounded(call: Awaitable[R]) -> R:
        if semaphore is None:
            return await call
        async with semaphore:
            return await call

    outcomes = await asyncio.gather(
        *(bounded(call) for call in calls), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(outcomes)  # type: ignore[arg-type]


def run_coroutine(
    coroutine: Coroutine[Any, Any, R], documents: Sequence[type[Any]] = ()
) -> R:
    """Run an async operation from a synchronous task (a task runner's worker).

    Each worker thread keeps one event loop, so clients such as Beanie's are set up
    once per thread and process, not once per call.
    """

    async def with_documents() -> R:
        if documents:
            await init_documents(documents)
        return await coroutine

    return thread_runner().run(with_documents())


def thread_runner() -> asyncio.Runner:
    """This thread's event loop runner, made on first use and kept."""
    runner: asyncio.Runner | None = getattr(_THREAD, "runner", None)
    if runner is None:
        runner = _THREAD.runner = asyncio.Runner()
    return runner


async def _settled(future: PrefectFuture[Any]) -> None:
    """Wait for a Prefect future without holding a thread."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def resolve() -> None:
        if not done.done():
            done.set_result(None)

    def wake(_: object) -> None:
        loop.call_soon_threadsafe(resolve)

    future.add_done_callback(wake)
    await done


def _caches(task: Task[Any, Any]) -> bool:
    # By name: pulpo.runtime.caching imports Prefect, which this module must not.
    return type(getattr(task, "cache_policy", None)).__name__ == "OperationCache"


def _note_cache_hit(task: Task[Any, Any], state: Any) -> None:
    """Say in the flow run's log (kept by ``task_logs = "warning"``, shown in the
    console and in Prefect's UI) that an operation's result came from the cache."""
    if getattr(state, "name", None) != "Cached":
        return
    from prefect.logging import get_run_logger

    expiration = getattr(getattr(state.data, "metadata", None), "expiration", None)
    until = (
        f", kept until {expiration:%Y-%m-%d %H:%M:%S %Z}"
        if expiration is not None
        else ""
    )
    get_run_logger().info(
        "operation %r: result from the cache%s (--refresh-cache runs it again)",
        task.name,
        until,
    )
