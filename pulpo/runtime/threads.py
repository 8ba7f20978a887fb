"""Run a synchronous operation in a thread that never holds its process open.

``asyncio.to_thread`` uses the event loop's default executor, whose threads Python
joins when the loop closes and again when the interpreter exits. A synchronous
function cannot be interrupted, so after a task's ``timeout`` fired, or after Ctrl-C,
the command (or a worker's flow-run process) would wait until the function returned
on its own. Daemon threads are abandoned instead when the process ends.

The daemon threads are kept and reused: starting a thread per call cost about 1 ms a
call when other threads (Prefect's event and log workers) compete for the GIL, three
hand-overs instead of the two a waiting thread needs. A thread whose function never
returns (its task timed out) is simply never idle again; the next call starts another.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import queue
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
IDLE_SECONDS = 30.0  # an idle thread ends after this long

# A job runs the function and returns what hands its outcome to the event loop: the
# thread is idle again before the loop hears of it, so the next call of a chain finds it.
Job = Callable[[], Callable[[], None]]
_idle: list[queue.SimpleQueue[Job]] = []  # inboxes of threads waiting for a job
_lock = threading.Lock()


def _forget_threads() -> None:
    """In a forked child: the parent's threads (and maybe its lock holder) are gone."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()


os.register_at_fork(after_in_child=_forget_threads)


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

    def call() -> Callable[[], None]:
        try:
            result = context.run(function, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
            return functools.partial(_deliver, loop, settle, None, error)
        return functools.partial(_deliver, loop, settle, result, None)

    _start(call)
    return await outcome


def _start(job: Job) -> None:
    """Run ``job`` in an idle daemon thread, or in a new one."""
    with _lock:
        inbox = _idle.pop() if _idle else None
    if inbox is None:
        inbox = queue.SimpleQueue()
        threading.Thread(
            target=_serve, args=(inbox,), name="pulpo-sync", daemon=True
        ).start()
    inbox.put(job)


def _serve(inbox: queue.SimpleQueue[Job]) -> None:
    while True:
        try:
            job = inbox.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _lock:
                if inbox in _idle:
                    _idle.remove(inbox)
                    return
            continue  # taken for a job just now: it is on its way
        deliver = job()
        with _lock:
            _idle.append(inbox)
        deliver()
        del job, deliver  # drop the finished call's references while idle


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
