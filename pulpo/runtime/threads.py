"""Run a synchronous operation in a thread that never holds its process open.

``asyncio.to_thread`` uses the event loop's default executor, whose threads Python
joins when the loop closes and again when the interpreter exits. A synchronous
function cannot be interrupted, so after a task's ``timeout`` fired, or after Ctrl-C,
the command (or a worker's flow-run process) would wait until the function returned
on its own. A daemon thread per call is abandoned instead when the process ends.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


async def in_thread(
    function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
) -> R:
    """Await ``function(*args, **kwargs)`` run in a daemon thread, with this context.

    The context carries Prefect's run context into the thread, so ``get_run_logger``
    works inside the function, as it does with ``asyncio.to_thread``.
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[R] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: R | None, error: BaseException | None) -> None:
        if outcome.done():  # the awaiting task was cancelled (timeout, Ctrl-C)
            return
        if error is not None:
            outcome.set_exception(error)
        else:
            outcome.set_result(result)  # type: ignore[arg-type]

    def call() -> None:
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            _deliver(loop, settle, None, error)
        else:
            _deliver(loop, settle, result, None)

    name = f"pulpo-{getattr(function, '__name__', 'operation')}"
    threading.Thread(target=call, name=name, daemon=True).start()
    return await outcome


def _deliver(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[R | None, BaseException | None], None],
    result: R | None,
    error: BaseException | None,
) -> None:
    try:
        loop.call_soon_threadsafe(settle, result, error)
    except RuntimeError:  # the loop closed while the function ran: nobody waits
        pass
