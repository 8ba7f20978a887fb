"""Dependency-driven scheduling inside one flow run.

Each unit (a task, a subflow, an upstream flow) becomes an asyncio task that waits only
for the values it needs, so independent branches run concurrently and nothing waits for
a whole "level" to finish. Results that an enclosing flow already has are passed down
through a context variable, so a subflow never re-runs work its parent has done.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

_AVAILABLE: ContextVar[Mapping[str, Any]] = ContextVar(
    "pulpo_available_outputs", default=MappingProxyType({})
)
# Set while a subflow run is being created; its body resolves it once it runs.
_STARTING: ContextVar[asyncio.Future[None] | None] = ContextVar(
    "pulpo_starting", default=None
)
_CREATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


class OperationFailed(Exception):
    """An operation raised; the message names it."""

    def __init__(self, operation: str, error: BaseException) -> None:
        self.operation = operation
        self.error = error
        hint = ""
        if type(error).__name__ == "CollectionWasNotInitialized":
            hint = " (Beanie is not initialised: run `pulpo up` or set MONGODB_URL)"
        super().__init__(
            f"operation {operation!r} failed: {type(error).__name__}: {error}{hint}"
        )


class UpstreamFailed(Exception):
    """A unit did not run because something it needs failed."""


class Pending:
    """A value that a unit will produce: its whole result or one operation's output."""

    def __init__(
        self, future: asyncio.Task[Any], label: str, operation: str | None = None
    ):
        self._future = future
        self._label = label
        self._operation = operation

    async def resolve(self) -> Any:
        try:
            result = await self._future
        except (asyncio.CancelledError, Exception) as error:
            raise UpstreamFailed(f"{self._label} did not complete") from error
        return result if self._operation is None else result[self._operation]


class FlowUnit(Pending):
    """The run of a subflow or upstream flow; ``output(op)`` selects one result."""

    def output(self, operation: str) -> Pending:
        return Pending(self._future, self._label, operation)


class OperationGraph:
    """Starts the units of one flow body and gathers their outputs.

    Generated flows create one, add units in dependency order and return
    ``await graph.results()``: a mapping of operation name to output for every
    operation the flow ran.
    """

    def __init__(self) -> None:
        starting = _STARTING.get()
        if starting is not None and not starting.done():
            starting.set_result(None)
        self._inherited = _AVAILABLE.get()
        self._available: dict[str, Any] = {}
        self._results: dict[str, Any] = {}
        self._units: list[asyncio.Task[Any]] = []

    def task(self, task: Any, /, **arguments: Any) -> Pending:
        """Run a Prefect task once every pending argument has its value."""
        name: str = task.name

        async def run() -> Any:
            values = await _resolve(arguments)
            try:
                output = await task(**values)
            except Exception as error:
                raise OperationFailed(name, error) from error
            self._available[name] = self._results[name] = output
            return output

        return Pending(self._start(run()), f"operation {name!r}")

    def subflow(
        self, flow: Any, /, *, after: Sequence[Pending] = (), **parameters: Any
    ) -> FlowUnit:
        """Run a child flow after ``after``, passing down every output known so far."""

        async def run() -> dict[str, Any]:
            for unit in after:
                await unit.resolve()
            _AVAILABLE.set(MappingProxyType({**self._inherited, **self._available}))
            outputs: dict[str, Any] = await _run_subflow(flow, parameters)
            self._available.update(outputs)
            self._results.update(outputs)
            return outputs

        return FlowUnit(self._start(run()), f"flow {flow.name!r}")

    def upstream(
        self, flow: Any, needs: Sequence[str], /, **parameters: Any
    ) -> FlowUnit:
        """Get ``needs`` from an enclosing flow's results, or by running ``flow``."""

        async def run() -> dict[str, Any]:
            if all(op in self._inherited for op in needs):
                outputs = {op: self._inherited[op] for op in needs}
            else:
                outputs = await _run_subflow(flow, parameters)
            self._available.update(outputs)
            return outputs

        return FlowUnit(self._start(run()), f"flow {flow.name!r}")

    async def results(self) -> dict[str, Any]:
        """Wait for every unit; raise the first real failure, else return the outputs."""
        outcomes = await asyncio.gather(*self._units, return_exceptions=True)
        failures = [
            o
            for o in outcomes
            if isinstance(o, BaseException) and not isinstance(o, UpstreamFailed)
        ]
        if failures:
            raise failures[0]
        return dict(sorted(self._results.items()))

    def _start(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        unit = asyncio.ensure_future(coroutine)
        self._units.append(unit)
        return unit


async def _run_subflow(flow: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Run a subflow; only its creation is serialized, its body runs concurrently.

    A Prefect server on SQLite answers concurrent subflow creations with 503 and the
    client retries after about two seconds; creating them one at a time avoids that.
    """
    loop = asyncio.get_running_loop()
    lock = _CREATION_LOCKS.setdefault(loop, asyncio.Lock())
    async with lock:
        started: asyncio.Future[None] = loop.create_future()
        _STARTING.set(started)
        call = asyncio.ensure_future(flow(**parameters))
        await asyncio.wait([call, started], return_when=asyncio.FIRST_COMPLETED)
        _STARTING.set(None)
    result: dict[str, Any] = await call
    return result


async def _resolve(arguments: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in arguments.items():
        if isinstance(value, Pending):
            values[name] = await value.resolve()
        elif isinstance(value, list) and any(isinstance(v, Pending) for v in value):
            values[name] = [
                await v.resolve() if isinstance(v, Pending) else v for v in value
            ]
        else:
            values[name] = value
    return values
