"""``RetryOnlyOn``: the retry condition of an operation declared with ``retry_on=``."""

from __future__ import annotations

from typing import Any


class RetryOnlyOn:
    """A Prefect ``retry_condition_fn``: retry only when the attempt raised one of
    ``types``; any other failure ends the task at once.

    A class, not a closure, so that process and Dask task runners can pickle it.
    """

    def __init__(self, *types: type[BaseException]) -> None:
        self.types = types

    def __call__(self, task: Any, task_run: Any, state: Any) -> bool:
        return isinstance(state.data, self.types)

    def __repr__(self) -> str:
        return f"RetryOnlyOn({', '.join(t.__name__ for t in self.types)})"
