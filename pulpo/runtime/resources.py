"""Open ``@resource`` providers when a task first needs them, and close them after.

Generated tasks call :func:`use_resource` (async tasks on the flow's event loop) or
:func:`use_resource_in_process` (sync tasks a task runner sends to other processes).
A run-scoped resource lives in the scope a flow body opens with :func:`run_resources`,
keyed by the flow run, and is closed when the scope ends, whether the run succeeded
or not. Process-scoped resources, and every resource used in a task runner's worker
processes, live until the process exits.
"""

from __future__ import annotations

import asyncio
import atexit
import inspect
import logging
import multiprocessing.util
import os
import threading
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pulpo.errors import RunError
from pulpo.resource_settings import provider_arguments
from pulpo.resources import ResourceSpec, resource_spec

T = TypeVar("T")
Closer = Callable[[], Any]
_LOG = logging.getLogger("pulpo.resources")


@dataclass
class _Opened:
    """Resources opened in one scope, closed in reverse order."""

    values: dict[Any, Any] = field(default_factory=dict)
    closers: list[tuple[str, Closer]] = field(default_factory=list)


@dataclass
class _RunScope(_Opened):
    depth: int = 0
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)


_RUNS: dict[Any, _RunScope] = {}
_PROCESS = _Opened()
_PROCESS_LOCK = threading.Lock()
_OVERRIDES: dict[str, Any] = {}


@overload
async def use_resource(provider: Callable[..., AsyncIterator[T]]) -> T: ...
@overload
async def use_resource(provider: Callable[..., Iterator[T]]) -> T: ...  # type: ignore[overload-overlap]
@overload
async def use_resource(provider: Callable[..., Awaitable[T]]) -> T: ...  # type: ignore[overload-overlap]
@overload
async def use_resource(provider: Callable[..., T]) -> T: ...
async def use_resource(provider: Callable[..., Any]) -> Any:
    """The value of ``provider``'s resource for the task that is running.

    Opened on first use in this flow run (or process, for ``scope="process"``).

    Raises:
        RunError: the provider raised or is misdeclared; names the resource.
    """
    spec = _spec(provider)
    if spec.name in _OVERRIDES:
        return _OVERRIDES[spec.name]
    run = _current_run() if spec.scope == "run" else None
    scope = _RUNS.get(run) if run is not None else None
    if scope is None:  # process scope, or a task run outside a flow's scope
        key = (
            (spec.name, id(asyncio.get_running_loop())) if spec.is_async else spec.name
        )
        if key not in _PROCESS.values:
            value, closer = await _open(spec)
            with _PROCESS_LOCK:
                _remember(_PROCESS, key, spec.name, value, closer)
        return _PROCESS.values[key]
    lock = scope.locks.setdefault(spec.name, asyncio.Lock())
    async with lock:
        if spec.name not in scope.values:
            value, closer = await _open(spec)
            _remember(scope, spec.name, spec.name, value, closer)
    return scope.values[spec.name]


@overload
def use_resource_in_process(provider: Callable[..., AsyncIterator[T]]) -> T: ...
@overload
def use_resource_in_process(provider: Callable[..., Iterator[T]]) -> T: ...  # type: ignore[overload-overlap]
@overload
def use_resource_in_process(provider: Callable[..., Awaitable[T]]) -> T: ...  # type: ignore[overload-overlap]
@overload
def use_resource_in_process(provider: Callable[..., T]) -> T: ...
def use_resource_in_process(provider: Callable[..., Any]) -> Any:
    """:func:`use_resource` for sync tasks in a task runner's worker: once per process
    (per thread for async providers, whose clients belong to the thread's loop)."""
    from pulpo.runtime.tasks import thread_runner

    spec = _spec(provider)
    if spec.name in _OVERRIDES:
        return _OVERRIDES[spec.name]
    key = (spec.name, threading.get_ident()) if spec.is_async else spec.name
    with _PROCESS_LOCK:
        if key not in _PROCESS.values:
            if spec.is_async:
                runner = thread_runner()
                value, closer = runner.run(_open(spec))
                closer = _on_runner(runner, closer)
            else:
                value, closer = _open_sync(spec)
            _remember(_PROCESS, key, spec.name, value, closer)
        return _PROCESS.values[key]


@asynccontextmanager
async def run_resources() -> AsyncIterator[None]:
    """The scope of a flow run's resources: what its tasks open is closed at the end.

    Re-entered by a flow that another flow's body runs in the same run, the scope is
    closed by the outermost one only.
    """
    run = _current_run()
    scope = _RUNS.setdefault(run, _RunScope())
    scope.depth += 1
    try:
        yield
    finally:
        scope.depth -= 1
        if scope.depth == 0:
            del _RUNS[run]
            await _close_all(scope)


@contextmanager
def overridden_resources(values: Mapping[str, Any]) -> Iterator[None]:
    """Hand these values to operations instead of opening the named resources.

    For tests (:mod:`pulpo.testing`): nothing is opened or closed for them.
    """
    previous = dict(_OVERRIDES)
    _OVERRIDES.update(values)
    try:
        yield
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(previous)


def close_process_resources() -> None:
    """Close what was opened for this process (at exit; also callable directly)."""
    with _PROCESS_LOCK:
        closers = list(reversed(_PROCESS.closers))
        _PROCESS.closers.clear()
        _PROCESS.values.clear()
    for name, closer in closers:
        try:
            result = closer()
            if inspect.isawaitable(result):
                asyncio.run(_awaited(result))
        except Exception as error:  # at exit there is no run left to fail
            _LOG.warning("closing resource %r failed: %s", name, error)


_CLOSE_AT_EXIT: set[int] = set()


def _close_at_exit() -> None:
    """Close this process's resources when it exits (once per process: a forked
    child starts with its parent's registrations cleared or not run)."""
    pid = os.getpid()
    if pid in _CLOSE_AT_EXIT:
        return
    _CLOSE_AT_EXIT.add(pid)
    atexit.register(close_process_resources)
    # Pool workers end through multiprocessing, which runs its finalizers, not atexit.
    multiprocessing.util.Finalize(None, close_process_resources, exitpriority=100)


def _spec(provider: Callable[..., Any]) -> ResourceSpec:
    spec = resource_spec(provider)
    if spec is None:
        raise RunError(
            f"{getattr(provider, '__qualname__', provider)!r} is not a @resource "
            f"provider; decorate it with @resource"
        )
    return spec


def _current_run() -> Any:
    from prefect.context import FlowRunContext, TaskRunContext

    task_run = TaskRunContext.get()
    if task_run is not None:
        return task_run.task_run.flow_run_id
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        return flow_run.flow_run.id
    return None


async def _open(spec: ResourceSpec) -> tuple[Any, Closer | None]:
    arguments = provider_arguments(spec)
    provider = spec.provider
    try:
        if inspect.isasyncgenfunction(provider):
            generator = provider(**arguments)
            value = await generator.__anext__()
            return value, lambda: _finish_async(spec, generator)
        if inspect.iscoroutinefunction(provider):
            return await provider(**arguments), None
    except StopAsyncIteration:
        raise _yielded_nothing(spec) from None
    except Exception as error:
        raise _failed(spec, error) from error
    return _open_sync(spec, arguments)


def _open_sync(
    spec: ResourceSpec, arguments: dict[str, Any] | None = None
) -> tuple[Any, Closer | None]:
    if arguments is None:
        arguments = provider_arguments(spec)
    provider = spec.provider
    try:
        if inspect.isgeneratorfunction(provider):
            generator = provider(**arguments)
            value = next(generator)
            return value, lambda: _finish_sync(spec, generator)
        return provider(**arguments), None
    except StopIteration:
        raise _yielded_nothing(spec) from None
    except Exception as error:
        raise _failed(spec, error) from error


def _remember(
    opened: _Opened, key: Any, name: str, value: Any, closer: Closer | None
) -> None:
    opened.values[key] = value
    if closer is not None:
        opened.closers.append((name, closer))
        if opened is _PROCESS:
            _close_at_exit()


async def _close_all(opened: _Opened) -> None:
    for name, closer in reversed(opened.closers):
        try:
            result = closer()
            if inspect.isawaitable(result):
                await result
        except Exception as error:  # the run's own outcome stands
            _run_logger().warning("closing resource %r failed: %s", name, error)


def _finish_sync(spec: ResourceSpec, generator: Any) -> None:
    try:
        next(generator)
    except StopIteration:
        return
    raise RunError(
        f"resource {spec.name!r}: {spec.location} yields more than once; yield the "
        f"value once and clean up after the yield"
    )


async def _finish_async(spec: ResourceSpec, generator: Any) -> None:
    try:
        await generator.__anext__()
    except StopAsyncIteration:
        return
    raise RunError(
        f"resource {spec.name!r}: {spec.location} yields more than once; yield the "
        f"value once and clean up after the yield"
    )


def _on_runner(runner: asyncio.Runner, closer: Closer | None) -> Closer | None:
    if closer is None:
        return None
    return lambda: runner.run(_awaited(closer()))


async def _awaited(value: Any) -> Any:
    return await value


def _failed(spec: ResourceSpec, error: BaseException) -> RunError:
    return RunError(
        f"resource {spec.name!r} ({spec.location}) failed to open: "
        f"{type(error).__name__}: {error}",
        resource=spec.name,
    )


def _yielded_nothing(spec: ResourceSpec) -> RunError:
    return RunError(
        f"resource {spec.name!r}: {spec.location} returned without yielding; yield "
        f"the value operations should receive",
        resource=spec.name,
    )


def _run_logger() -> Any:
    try:
        from prefect.logging import get_run_logger

        return get_run_logger()
    except Exception:  # outside a run
        return _LOG
