"""Tell async operations from sync ones, and make sync ones awaitable."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


class SyncAsyncDetector:
    """Decides how an operation is awaited so that sync code never blocks the loop."""

    def is_async(self, func: Callable[..., Any]) -> bool:
        """True for coroutine functions, also behind ``functools.wraps`` and partials."""
        target: Any = inspect.unwrap(func)
        while isinstance(target, functools.partial):
            target = inspect.unwrap(target.func)
        if inspect.iscoroutinefunction(target):
            return True
        call = getattr(target, "__call__", None)  # noqa: B004 - callable instances
        return not inspect.isfunction(target) and inspect.iscoroutinefunction(call)

    def wrap_if_sync(self, func: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """An async callable: ``func`` itself, or one running ``func`` in a worker thread."""
        if self.is_async(func):
            return func

        @functools.wraps(func)
        async def run_in_thread(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(func, *args, **kwargs)

        return run_in_thread

    detect_and_wrap = wrap_if_sync
