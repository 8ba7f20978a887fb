"""The task runners a generated flow can use: ``processes`` and ``dask``.

``threads`` needs none: its tasks run on the flow's own event loop (sync operations in
worker threads), which costs less per task than any pool.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from typing import Any

from pulpo.errors import RunError
from pulpo.runtime.temporary_server import temporary_server_api
from pulpo.settings import Settings

DASK_ADDRESS = "PULPO_DASK_ADDRESS"
_LOCK = threading.Lock()
_CLUSTER: Any = None


def process_pool(module: str | None = None) -> Any:
    """Prefect's process pool, one worker process per core, kept warm.

    Prefect's own runner spawns a fresh pool for every flow run, and each worker
    imports Prefect and the project before its first task (1.5 s here against a
    server). This one forks its workers from a forkserver that imported Prefect and
    ``module`` (the flow's module) once, started as soon as the flow module is
    imported, and keeps one pool for every flow run of the process.
    """
    from pulpo.runtime.forkserver import start_at_import

    start_at_import(module)
    from pulpo.runtime.warm_pool import WarmProcessPoolTaskRunner

    return WarmProcessPoolTaskRunner()


def dask_cluster(module: str | None = None) -> Any:
    """A Dask task runner: the cluster at ``PULPO_DASK_ADDRESS`` if set, else one
    local cluster of processes per Python process, started on first use and reused
    by every later flow run of that process.

    The local cluster's workers are forked from the forkserver that the ``processes``
    runner uses, which starts as ``module`` (the flow's module) is imported and
    imports Prefect and the project once: a spawned Dask worker imported them itself
    at its first task (the first call took 1.6 times the ``threads`` time, not 0.8).

    Raises:
        RunError: prefect-dask is not installed.
    """
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise RunError(
            'task_runner = "dask" needs prefect-dask; install it with '
            "`pip install 'pulpo[dask]'`"
        ) from None
    if not Settings.from_environment().dask_address and not _in_a_dask_worker():
        from pulpo.runtime.forkserver import start_at_import

        start_at_import(module)

    class SharedClusterDaskTaskRunner(DaskTaskRunner):  # type: ignore[misc]
        """Connects to the configured scheduler or to this process's local cluster."""

        _settings: Any = None  # for the workers of a local cluster

        def __enter__(self) -> Any:
            if _in_a_dask_worker():  # a task's own context: Prefect's default
                return super().__enter__()
            address = Settings.from_environment().dask_address
            if address:
                self.address = address
            elif self._cluster is None and self.address is None:
                self._cluster = _local_cluster()
            runner = super().__enter__()
            try:
                _ = self.client  # connect now, not at the first submission
            except OSError as error:  # the scheduler did not answer
                raise RunError(
                    f"cannot reach the Dask scheduler at {self.address}: {error}; start "
                    f"it, or unset dask_address ({DASK_ADDRESS}) to use a local cluster"
                ) from None
            if not address:  # workers of another machine: Prefect's own way
                from pulpo.runtime.worker_settings import LocalWorkerSettings

                self._settings = LocalWorkerSettings(temporary_server_api())
            return runner

        def submit(self, *args: Any, **kwargs: Any) -> Any:
            if self._settings is None:
                return super().submit(*args, **kwargs)
            with self._settings.submitting():
                return super().submit(*args, **kwargs)

    return SharedClusterDaskTaskRunner(client_kwargs={"timeout": 10})


def _in_a_dask_worker() -> bool:
    """True in a Dask worker's process: it imports the flow module and enters the
    flow's task runner to run tasks, and must neither start a forkserver nor connect
    to a cluster."""
    worker = sys.modules.get("distributed.worker")
    return worker is not None and bool(getattr(worker.Worker, "_instances", ()))


def _local_cluster() -> Any:
    global _CLUSTER
    with _LOCK:
        if _CLUSTER is None:
            import dask
            from distributed import LocalCluster

            from pulpo.runtime.forkserver import start_forkserver

            start_forkserver()  # unless the flow module's import started it
            with dask.config.set(
                {
                    "distributed.worker.multiprocessing-method": "forkserver",
                    # Stack samples every 10 ms take the GIL from CPU-bound tasks,
                    # for a dashboard on a port nobody is told.
                    "distributed.worker.profile.enabled": False,
                }
            ):
                _CLUSTER = LocalCluster(
                    processes=True,
                    threads_per_worker=1,
                    dashboard_address=":0",
                    silence_logs=logging.WARNING,
                )
            atexit.register(_CLUSTER.close)
        return _CLUSTER
