"""The Prefect API that test runs report to: Prefect's test harness, once per process.

Without a server, Prefect would start a temporary one for each process anyway (its
ephemeral mode, 7–12 s here). The harness starts one such server with a throwaway
SQLite database, so tests never write into the project's Prefect history nor reach a
server the user configured, and every run after the first pays only for its tasks.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from contextlib import ExitStack

_LOCK = threading.Lock()
_STACK: ExitStack | None = None
_ON_STOP: list[Callable[[], None]] = []


def start_test_backend() -> None:
    """Start the test server for this process unless it runs already."""
    global _STACK
    with _LOCK:
        if _STACK is not None:
            return
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        stack = ExitStack()
        home = tempfile.mkdtemp(prefix="pulpo-test-prefect-")
        stack.callback(shutil.rmtree, home, True)
        import prefect.settings
        from prefect.testing.utilities import prefect_test_harness

        # Prefect's own files (task results, its local storage) go to a throwaway
        # home, not ~/.prefect, which pulpo reads as "the user configured Prefect".
        # Run logs stay on the console (pytest shows them for a failed test); sending
        # them to the throwaway server too would cost every task CPU time.
        stack.enter_context(
            prefect.settings.temporary_settings(
                updates={
                    prefect.settings.PREFECT_HOME: home,
                    prefect.settings.PREFECT_LOGGING_TO_API_ENABLED: False,
                }
            )
        )
        stack.enter_context(prefect_test_harness(server_startup_timeout=90))
        _STACK = stack
        atexit.register(stop_test_backend)


def on_stop(callback: Callable[[], None]) -> None:
    """Call ``callback`` when the test server stops, before it does."""
    _ON_STOP.append(callback)


def stop_test_backend() -> None:
    """Stop the test server (at the end of a pytest session, or at exit)."""
    global _STACK
    with _LOCK:
        stack, _STACK = _STACK, None
        callbacks = _ON_STOP[:]
        _ON_STOP.clear()
    # Prefect's console handler may hold the stream pytest captured for the test
    # that started the server, closed by now: its last lines are dropped silently.
    raising, logging.raiseExceptions = logging.raiseExceptions, False
    try:
        for callback in reversed(callbacks):
            callback()
        if stack is not None:
            stack.close()
    finally:
        logging.raiseExceptions = raising
