"""The forkserver that ``task_runner = "processes"`` forks its workers from.

It is started once per process, as early as possible, and imports Prefect and the
flow module while the flow run is still starting, so that workers forked from it run
their first task without importing anything. This module imports neither, so that
``pulpo prefect run`` can start it before it loads Prefect itself.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from multiprocessing import forkserver, spawn

PRELOAD = [
    "prefect",
    "prefect.task_engine",
    "prefect.task_runners",
    "pulpo.runtime.worker_preload",
]
# Set while the forkserver starts: preloading the flow module asks for the pool
# again, and must not start a forkserver of its own.
INSIDE_FORKSERVER = "PULPO_INSIDE_FORKSERVER"
# The command's script, for pulpo.runtime.forkserver_main to run in the forkserver.
MAIN_SCRIPT = "PULPO_FORKSERVER_MAIN"
_LOCK = threading.Lock()
_started = False
_at_import = True


def start_with_first_run() -> None:
    """Start the forkserver when a flow runs, not when a flow module is imported.

    For processes that import flow modules only to read them: the API (signatures)
    and ``deploy`` (entrypoints) would otherwise start an idle forkserver that
    imports Prefect again (a second of CPU, and its memory, for nothing).
    """
    global _at_import
    _at_import = False


def start_at_import(module: str | None) -> None:
    """What a flow module calls as it loads: start the forkserver now, preloading
    ``module``, unless :func:`start_with_first_run` was called."""
    if _at_import:
        start_forkserver(module)


def start_forkserver(module: str | None = None) -> None:
    """Start the forkserver, preloading Prefect and ``module``; later calls do nothing.

    The forkserver inherits this process's ``sys.path`` and environment as they are
    now, so call it once the project is importable and Prefect is configured.
    """
    global _started
    if os.environ.get(INSIDE_FORKSERVER):
        return
    with _LOCK:
        if _started:
            return
        extra = [module] if module and module != "__main__" else []
        main = spawn.get_preparation_data("forkserver").get("init_main_from_path")
        if main:
            extra.append("pulpo.runtime.forkserver_main")
        multiprocessing.set_forkserver_preload([*PRELOAD, *extra])
        _start_quiet_resource_tracker()
        os.environ[INSIDE_FORKSERVER] = "1"
        os.environ[MAIN_SCRIPT] = main or ""
        try:
            forkserver.ensure_running()
        finally:
            del os.environ[INSIDE_FORKSERVER], os.environ[MAIN_SCRIPT]
        _started = True


def _start_quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker without its shutdown warning.

    Workers stopped in the middle of a task (timeout, Ctrl-C) cannot unregister the
    queues' semaphores they share; the tracker then removes them at exit, as it
    should, and warns about "leaked semaphore objects" after the command's last line.
    """
    from multiprocessing import resource_tracker

    quiet = "ignore:resource_tracker:UserWarning"
    sys.warnoptions.append(quiet)
    try:
        resource_tracker.ensure_running()
    finally:
        sys.warnoptions.remove(quiet)
