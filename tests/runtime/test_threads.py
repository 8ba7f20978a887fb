"""Sync operations run in daemon threads that are reused, never joined."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from pulpo.runtime import in_thread

REQUEST = contextvars.ContextVar("REQUEST", default="none")


def whoami() -> tuple[int, bool, str]:
    current = threading.current_thread()
    return current.ident or 0, current.daemon, REQUEST.get()


def test_calls_in_turn_reuse_one_daemon_thread_and_see_the_callers_context() -> None:
    async def main() -> list[tuple[int, bool, str]]:
        REQUEST.set("run-1")
        return [await in_thread(whoami) for _ in range(3)]

    calls = asyncio.run(main())

    assert {ident for ident, _, _ in calls} != {threading.get_ident()}
    assert len({ident for ident, _, _ in calls}) == 1
    assert all(daemon and request == "run-1" for _, daemon, request in calls)


def test_a_function_that_never_returns_does_not_hold_up_the_next_call() -> None:
    release = threading.Event()

    async def main() -> int:
        stuck = asyncio.ensure_future(in_thread(release.wait))
        await asyncio.sleep(0.05)
        ident, _, _ = await asyncio.wait_for(in_thread(whoami), timeout=5)
        stuck.cancel()  # as a task timeout does: the thread is abandoned
        return ident

    try:
        assert asyncio.run(main()) != threading.get_ident()
    finally:
        release.set()
