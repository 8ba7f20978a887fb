"""``run_flow``: run one generated flow in this process, as a test wants it run."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

from pulpo.errors import RunError, did_you_mean
from pulpo.project import Project
from pulpo.testing.backend import on_stop, start_test_backend
from pulpo.testing.loading import FlowParts, load_project
from pulpo.testing.patching import Recorder, check_operations, patched
from pulpo.testing.result import FlowFailed, FlowResult

DEFAULT_TIMEOUT = 60.0


def run_flow(
    flow: str,
    params: Mapping[str, Any] | None = None,
    *,
    resources: Mapping[str, Any] | None = None,
    operations: Mapping[str, Callable[..., Any]] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    project: str | Path | None = None,
    use_cache: bool = False,
) -> FlowResult:
    """Run ``flow`` in this process and report what each operation did.

    Builds the project first when its sources changed since the last build (in a
    child process), runs against Prefect's test server (started once per process),
    and always uses the ``threads`` task runner, so that the replacements below reach
    every operation.

    Args:
        flow: The flow's name, e.g. ``"scraping_flow"``.
        params: The flow's parameters as Python values.
        resources: Resource name → the object operations receive instead of opening
            the resource, e.g. ``{"llm": FakeLLM()}``.
        operations: Operation name → a function with the operation's signature, called
            instead of the operation's own function.
        timeout: Fail the run after this many seconds (``None``: no limit).
        project: The project directory, or a path inside it (default: the working
            directory).
        use_cache: Let operations declared ``cache=True`` reuse results stored by
            earlier runs of this process. Off by default: every run computes (and
            stores) afresh, so a test does not depend on which tests ran before it.

    Returns:
        The flow's result, each operation's output, and the order and timing of calls.

    Raises:
        RunError: an unknown flow, operation, resource or parameter (naming the
            closest known one), or a replacement with another signature.
        FlowFailed: the flow failed or timed out; its ``result`` holds what ran.
        ProjectError: no project at ``project``, or it does not build.
    """
    loaded = load_project(project)
    parts = loaded.flow(flow)
    resources = dict(resources or {})
    operations = dict(operations or {})
    _check_resources(flow, resources, sorted(loaded.resources()))
    check_operations(operations, flow, parts.operations, loaded.operation_names)
    if timeout is not None and not timeout > 0:
        raise RunError(f"timeout must be a positive number of seconds, not {timeout}")
    arguments = _checked_parameters(parts, dict(params or {}))
    _not_in_event_loop(flow)
    start_test_backend()
    # Read again for each run: a test may set MONGODB_URL or PULPO_RESOURCE_* first.
    settings = Project.find(loaded.project.root).settings
    return _run(settings, parts, arguments, resources, operations, timeout, use_cache)


def _run(
    settings: Any,
    parts: FlowParts,
    arguments: dict[str, Any],
    resources: dict[str, Any],
    operations: dict[str, Callable[..., Any]],
    timeout: float | None,
    use_cache: bool,
) -> FlowResult:
    from prefect.flow_engine import FlowRunTimeoutError
    from prefect.settings import PREFECT_TASKS_REFRESH_CACHE, temporary_settings

    from pulpo.runtime.resources import overridden_resources
    from pulpo.settings import exported

    prefect_flow = _with_options(parts.flow, timeout, parts.task_runner != "threads")
    recorder = Recorder()
    result = FlowResult(flow=parts.name, calls=recorder.calls)
    try:
        with (
            exported(settings),
            temporary_settings({PREFECT_TASKS_REFRESH_CACHE: not use_cache}),
            overridden_resources(resources),
            patched(parts.modules, parts.operations, operations, recorder),
        ):
            # The runner would reuse the context of its first run: this run's
            # Prefect settings (the cache refresh) live in the caller's context.
            result.value = _event_loop().run(
                _cancelling_leftovers(prefect_flow(**arguments)),
                context=contextvars.copy_context(),
            )
    except FlowRunTimeoutError:
        result.seconds = recorder.elapsed()
        running = [c.operation for c in recorder.calls if c.ended is None]
        raise FlowFailed(
            RunError(
                f"flow {parts.name!r} did not finish within its timeout of {timeout:g} s"
                + (f" (still running: {', '.join(running)})" if running else ""),
                flow=parts.name,
                code="timeout",
            ),
            result,
        ) from None
    except Exception as error:
        result.seconds = recorder.elapsed()
        raise FlowFailed(
            RunError(
                f"flow {parts.name!r} failed: {error}",
                flow=parts.name,
                operation=getattr(error, "operation", None),
            ),
            result,
        ) from error
    result.seconds = recorder.elapsed()
    return result


_RUNNERS: dict[int, asyncio.Runner] = {}


def _event_loop() -> asyncio.Runner:
    """One event loop per thread for every run: Prefect keeps its API client per
    loop, and a new client costs more than a small flow's tasks. Closed when the
    test server stops."""
    thread = threading.get_ident()
    runner = _RUNNERS.get(thread)
    if runner is None:
        runner = _RUNNERS[thread] = asyncio.Runner()

        def close() -> None:
            _RUNNERS.pop(thread, None)
            runner.close()

        on_stop(close)
    return runner


async def _cancelling_leftovers(run: Coroutine[Any, Any, Any]) -> Any:
    """Await ``run``, then cancel what it left behind on the loop (the tasks of
    operations a timeout abandoned), as ``asyncio.run`` would on exit."""
    before = asyncio.all_tasks()
    try:
        return await run
    finally:
        left = asyncio.all_tasks() - before - {asyncio.current_task()}
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


@functools.lru_cache(maxsize=64)
def _with_options(flow: Any, timeout: float | None, threads: bool) -> Any:
    """The flow with the run's timeout and, with ``threads``, Prefect's thread pool
    for the ``processes`` and ``dask`` runners' tasks: replacements live in this
    process and would not reach a pool's worker processes. Cached: rebuilding a
    Prefect flow object re-reads its signature (tens of ms)."""
    if threads:
        from prefect.task_runners import ThreadPoolTaskRunner

        flow = flow.with_options(task_runner=ThreadPoolTaskRunner())
    return flow.with_options(timeout_seconds=timeout)


def _check_resources(flow: str, resources: Mapping[str, Any], known: list[str]) -> None:
    for name in resources:
        if name not in known:
            raise RunError(
                f"cannot replace unknown resource {name!r}{did_you_mean(name, known)}; "
                f"the project's resources: {', '.join(known) or 'none'}",
                flow=flow,
                candidates=known,
                resource=name,
            )


def _checked_parameters(parts: FlowParts, params: dict[str, Any]) -> dict[str, Any]:
    from prefect.exceptions import ParameterTypeError

    accepted = list(inspect.signature(parts.flow.fn).parameters)
    for name in params:
        if name not in accepted:
            raise RunError(
                f"flow {parts.name!r} has no parameter {name!r}"
                f"{did_you_mean(name, accepted)}; its parameters: "
                f"{', '.join(accepted) or 'none'}",
                flow=parts.name,
                candidates=accepted,
            )
    try:
        parts.flow.validate_parameters(params)
    except ParameterTypeError as error:
        details = str(error).replace("\n", " ").strip()
        raise RunError(
            f"invalid parameters for flow {parts.name!r}: {details}", flow=parts.name
        ) from None
    return params


def _not_in_event_loop(flow: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RunError(
        f"run_flow({flow!r}) was called inside a running event loop (an async test); "
        f"call it from a sync test, or `await asyncio.to_thread(run_flow, ...)`",
        flow=flow,
    )
