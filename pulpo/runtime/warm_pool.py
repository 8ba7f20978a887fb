"""A warm process pool for ``task_runner = "processes"``.

Prefect's ``ProcessPoolTaskRunner`` creates its pool when a flow run starts and shuts
it down when the run ends, and its workers are spawned, so each one imports Prefect
and the project before its first task (1.5 s on two cores, more than a CPU-bound
step often takes). This subclass changes only where workers come from and how long
they live: they are forked from a forkserver that has already imported Prefect and
the flow module, and one pool (with its message queue and forwarding thread) serves
every flow run of the process. Submission, context and environment propagation, and
the forwarding of events and logs stay Prefect's own.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

# Imported only through pulpo.runtime.process_pool(), when a flow module loads.
from prefect.task_runners import (  # noqa: TID253
    ProcessPoolTaskRunner,
    TaskRunner,
    _initialize_process_pool_worker,
)

from pulpo.runtime.forkserver import start_forkserver
from pulpo.runtime.resources import close_process_resources
from pulpo.runtime.temporary_server import temporary_server_api
from pulpo.runtime.worker_settings import LocalWorkerSettings, worker_environment

_LOCK = threading.Lock()
_POOLS: dict[int, _SharedPool] = {}


class _SharedPool:
    """Worker processes and the queue they report events and logs through."""

    def __init__(self, runner: ProcessPoolTaskRunner, max_workers: int) -> None:
        context = multiprocessing.get_context("forkserver")
        self.queue = context.Queue()
        runner._subprocess_message_queue = self.queue
        threading.Thread(
            target=runner._forward_subprocess_messages,
            name="PulpoProcessPoolMessageForwarder",
            daemon=True,
        ).start()
        self.executor = ProcessPoolExecutor(
            max_workers=max_workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.queue, None, ()),
        )
        atexit.register(self.close)
        threading.excepthook = _quiet_interrupts

    @property
    def broken(self) -> bool:
        """A worker died (killed, or ``os._exit`` in a task): the pool takes no work."""
        return bool(getattr(self.executor, "_broken", False))

    def close(self) -> None:
        """Stop the workers now, busy or not: a task still blocking in one (its
        timeout fired, or Ctrl-C ended the run) must not keep the command alive."""
        workers = list((getattr(self.executor, "_processes", None) or {}).values())
        for worker in workers:  # started by this pool, so ours to stop
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join(5)
        for worker in workers:
            # The kernel may hand SIGTERM to another thread of the worker than the
            # one that runs Python's handlers; a main thread in time.sleep() or a C
            # call then never sees it. Without this the command hangs (seen here).
            if worker.is_alive():
                worker.kill()
                worker.join(5)
        # The executor sees its workers gone and releases its queues.
        self.executor.shutdown(wait=True, cancel_futures=True)


def _start_worker(*prefect_arguments: Any) -> None:
    """Prefect's worker set-up, and resources closed when the pool stops the worker."""
    _initialize_process_pool_worker(*prefect_arguments)
    signal.signal(signal.SIGTERM, _close_resources_and_exit)


def _close_resources_and_exit(signum: int, _frame: object) -> None:
    close_process_resources()
    os._exit(128 + signum)


def _quiet_interrupts(args: threading.ExceptHookArgs) -> None:
    """Ctrl-C reaches the workers too; Prefect's callback then re-raises their
    ``KeyboardInterrupt`` in the pool's manager thread. The flow run reports it; a
    second traceback from that thread says nothing new."""
    if isinstance(args.exc_value, KeyboardInterrupt):
        return
    _DEFAULT_HOOK(args)


_DEFAULT_HOOK = threading.excepthook


def _shared_pool(runner: ProcessPoolTaskRunner, max_workers: int) -> _SharedPool:
    with _LOCK:
        pool = _POOLS.get(max_workers)
        if pool is None or pool.broken:
            if pool is not None:
                pool.close()
            pool = _POOLS[max_workers] = _SharedPool(runner, max_workers)
        return pool


def _close_pool(max_workers: int) -> None:
    with _LOCK:
        pool = _POOLS.pop(max_workers, None)
    if pool is not None:
        pool.close()


class WarmProcessPoolTaskRunner(ProcessPoolTaskRunner):
    """``ProcessPoolTaskRunner`` whose workers outlive the flow run."""

    def __enter__(self) -> WarmProcessPoolTaskRunner:
        TaskRunner.__enter__(self)
        start_forkserver()
        pool = _shared_pool(self, self._max_workers)
        self._executor = pool.executor
        self._subprocess_message_queue = pool.queue
        self._resolver_executor = ThreadPoolExecutor(max_workers=self._max_workers)
        self._settings = LocalWorkerSettings(temporary_server_api())
        self._submitted: list[Future[bytes]] = []
        return self

    def submit(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        with self._settings.submitting() as settings:
            if settings is not None and self._cached_env_settings is not settings:
                # Prefect caches the workers' environment for one runner, that is
                # one flow run; computing it costs the first task 0.05 s.
                self._cached_env = worker_environment(settings)
                self._cached_env_settings = settings
            return super().submit(task, *args, **kwargs)

    def _resolve_futures_and_submit(self, *args: Any, **kwargs: Any) -> Future[bytes]:
        future: Future[bytes] = super()._resolve_futures_and_submit(*args, **kwargs)
        self._submitted.append(future)
        return future

    def __exit__(self, *exc_info: Any) -> None:
        if self._resolver_executor is not None:
            self._resolver_executor.shutdown(cancel_futures=True, wait=True)
            self._resolver_executor = None
        # Drop what has not started. A generated flow awaits every task it submits,
        # so a task still running here was abandoned: the run timed out, was
        # interrupted or failed. Its result will never be read, and a blocking call
        # must not hold the command or the worker's flow-run process, so the pool's
        # workers are stopped (the next run starts new ones). The pool otherwise
        # stays up for the next flow run, hidden from Prefect's cleanup.
        for future in self._submitted:
            future.cancel()
        if not all(future.done() for future in self._submitted):
            _close_pool(self._max_workers)
        self._submitted.clear()
        self._executor = None
        self._subprocess_message_queue = None
        self.cancel_all()
        TaskRunner.__exit__(self, *exc_info)
