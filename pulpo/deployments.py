"""Register generated flows as Prefect deployments and run them through the worker."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulpo.errors import RunError, ServiceError
from pulpo.project import Project
from pulpo.settings import Settings

if TYPE_CHECKING:  # the API imports this module at run time: no compiler there
    from pulpo.orchestration.compiler import Orchestration
    from pulpo.schedules import FlowSchedule

DEPLOYMENT = "pulpo"
POLL_SECONDS = 1.0
"""How often ``pulpo prefect run --deployment`` asks whether its run ended."""


def deploy(
    project: Project,
    settings: Settings,
    orchestration: Orchestration,
    flows: Sequence[str],
    variables: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create or update one deployment per flow in the project's work pool (a process
    pool, or with ``worker_type = "docker"`` a Docker pool whose deployments carry
    their containers' job variables). ``variables`` replaces pulpo's job variables
    (a Compose file's deploy service passes those of its own network and volumes).

    Returns:
        The deployment names, ``<flow>/pulpo``.

    Raises:
        ServiceError: the pool exists with another type; no image for a Docker pool.
    """
    from pulpo.services.containers import WORKDIR
    from pulpo.services.flow_containers import job_variables

    in_image = settings.backend == "docker" or settings.worker_type == "docker"
    return deploy_entrypoints(
        project.root,
        settings.work_pool,
        {name: entrypoint(orchestration.flows[name].module, name) for name in flows},
        settings.run_concurrency,
        {
            name: table.flow_schedule
            for name, table in settings.flows.items()
            if table.flow_schedule is not None
        },
        # Containers of the project's image hold the project at WORKDIR.
        working_dir=WORKDIR if in_image else None,
        worker_type=settings.worker_type,
        variables=variables
        if variables is not None
        else job_variables(project, settings)
        if settings.worker_type == "docker"
        else None,
    )


def entrypoint(module: str, flow: str) -> str:
    """Where the worker finds a generated flow, relative to the project root."""
    return f"run_cache/orchestration/{module}.py:{flow}"


def deploy_entrypoints(
    root: Path,
    work_pool: str,
    entrypoints: Mapping[str, str],
    concurrency: int | None = None,
    schedules: Mapping[str, FlowSchedule] | None = None,
    working_dir: str | None = None,
    worker_type: str = "process",
    variables: Mapping[str, Any] | None = None,
) -> list[str]:
    """Deploy each ``flow name → entrypoint`` from the project at ``root``; the work
    pool runs at most ``concurrency`` flow runs at once (the rest wait, queued).

    A flow in ``schedules`` runs by itself on that schedule; the others lose any
    schedule they had. A schedule paused with ``pulpo prefect schedule pause`` stays
    paused when deployed again.

    ``working_dir``: where the worker finds the project, when not at ``root`` (in a
    container); the flows are still read from ``root`` here. ``worker_type``: the
    pool's type; ``variables``: the job variables of every deployment.
    """
    from prefect.flows import Flow

    from pulpo.runtime.forkserver import start_with_first_run
    from pulpo.schedule_control import paused_deployments, schedule_runs_now

    start_with_first_run()  # flows are imported here to be read, not run

    asyncio.run(_ensure_work_pool(work_pool, concurrency, worker_type))
    schedules = schedules or {}
    paused = asyncio.run(paused_deployments(list(entrypoints)))
    names = []
    for name, path in entrypoints.items():
        source: Any = (
            str(root) if working_dir is None else _elsewhere(root, working_dir)
        )
        flow: Any = Flow.from_source(source=source, entrypoint=path)
        schedule = schedules.get(name)
        with contextlib.redirect_stdout(io.StringIO()):  # Prefect prints a summary
            deployment_id = flow.deploy(
                name=DEPLOYMENT,
                work_pool_name=work_pool,
                build=False,
                push=False,
                print_next_steps=False,
                schedules=[schedule.prefect()] if schedule is not None else [],
                paused=name in paused,
                job_variables=dict(variables or {}),
            )
        if schedule is not None and name not in paused:
            # Else the first runs wait for the server's scheduler loop (60 s).
            asyncio.run(schedule_runs_now(deployment_id))
        names.append(f"{name}/{DEPLOYMENT}")
    return names


def _elsewhere(root: Path, working_dir: str) -> Any:
    """Prefect's local storage of ``root`` whose runs change to ``working_dir``."""
    from prefect.runner.storage import LocalStorage

    class Elsewhere(LocalStorage):
        def to_pull_step(self) -> dict[str, Any]:
            return {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": working_dir
                }
            }

    return Elsewhere(str(root))


REFRESH_CACHE = "PREFECT_TASKS_REFRESH_CACHE"


def job_variables(refresh_cache: bool) -> dict[str, Any]:
    """The worker's job variables of one run: with ``refresh_cache`` its process runs
    every cached operation again (Prefect's setting, in that run's environment only)."""
    return {"env": {REFRESH_CACHE: "true"}} if refresh_cache else {}


def run_deployment(
    flow: str,
    parameters: dict[str, Any],
    timeout: float | None,
    refresh_cache: bool = False,
) -> Any:
    """Submit a run of ``flow``'s deployment, wait for the worker, return the result.

    Raises:
        RunError: no deployment, or the run did not complete.
    """
    import httpx
    from prefect.deployments import run_deployment as submit
    from prefect.exceptions import ObjectNotFound

    from pulpo.runtime.failures import code_of_state

    try:
        flow_run: Any = submit(
            f"{flow}/{DEPLOYMENT}",
            parameters=parameters,
            timeout=0,  # created; waited for below
            job_variables=job_variables(refresh_cache) or None,
        )
        flow_run = _await_end(flow_run.id, timeout)
    except ObjectNotFound:
        raise RunError(
            f"flow {flow!r} has no deployment yet; run `pulpo prefect deploy --all`"
        ) from None
    except (httpx.HTTPError, OSError) as error:
        raise ServiceError(
            f"lost the Prefect server while running flow {flow!r} "
            f"({type(error).__name__}); check it with `pulpo status`"
        ) from None
    state = flow_run.state
    if state is not None and state.is_completed():
        return state.result()
    if timeout is not None and (state is None or not state.is_final()):
        was = state.name if state is not None else "Scheduled"
        raise RunError(
            f"flow {flow!r} run {flow_run.name!r} did not end within --timeout "
            f"{timeout:g} s; {_give_up(flow_run, was)}"
        )
    code = code_of_state(state) or "failed"
    # TimedOut: the flow's own timeout, which Prefect enforced in the worker's run.
    status = "timed out on the worker" if code == "timeout" else "ended "
    if code != "timeout":
        status += state.name if state is not None else "unknown"
    raise RunError(
        f"flow {flow!r} run {flow_run.name!r} {status}: "
        f"{(state.message if state is not None else '') or 'no message'}",
        flow=flow,
        code=code,
    )


def _await_end(flow_run_id: Any, timeout: float | None) -> Any:
    """The flow run once it ended, or when ``timeout`` s have passed.

    Polls every :data:`POLL_SECONDS` (Prefect's own wait polls every 5 s). Before
    each poll it checks that the server still listens: a stopped server is an error
    at once, where the client would retry for a minute before giving up.

    Raises:
        ConnectionRefusedError: the server stopped listening.
    """
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    address = str(PREFECT_API_URL.value())
    started = time.monotonic()
    with get_client(sync_client=True) as client:
        while True:
            if not _listens(address) and not _listens(address, after=1.0):
                raise ConnectionRefusedError(address)
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            if timeout is not None and time.monotonic() - started >= timeout:
                return flow_run
            time.sleep(POLL_SECONDS)


def _listens(url: str, after: float = 0.0) -> bool:
    """Whether something accepts connections at ``url``'s host and port (asked
    ``after`` s from now)."""
    time.sleep(after)
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), 2):
            return True
    except OSError:
        return False


def _give_up(flow_run: Any, was: str) -> str:
    """Cancel a run waited for in vain, so that it does not run later unwatched;
    what happened, for the error line."""
    from prefect.client.orchestration import get_client

    from pulpo.run_control import cancel, finish_cancelling

    message = "Cancelled: --timeout ran out"

    async def go() -> None:
        async with get_client() as client:
            current = await client.read_flow_run(flow_run.id)
            if await cancel(client, current, message) == "PENDING":
                await finish_cancelling(client, flow_run.id, message, within=15)

    try:
        asyncio.run(go())
    except ValueError as error:  # it ended meanwhile
        return f"it could not be cancelled ({error})"
    return f"cancelled it (it was {was})"


async def _ensure_work_pool(
    name: str, concurrency: int | None, worker_type: str = "process"
) -> None:
    """Create the work pool of ``worker_type``, or set the concurrency of the one
    there (a worker may have made it, without a limit).

    Raises:
        ServiceError: the server does not answer; the pool has another type.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectAlreadyExists

    from pulpo.services.flow_containers import pool_template

    template = pool_template(worker_type)
    async with get_client() as client:
        try:
            try:
                await client.create_work_pool(
                    WorkPoolCreate(
                        name=name,
                        type=worker_type,
                        base_job_template=template,
                        concurrency_limit=concurrency,
                    )
                )
                return
            except ObjectAlreadyExists:
                pool = await client.read_work_pool(name)
            if pool.type == worker_type:
                await client.update_work_pool(
                    name, WorkPoolUpdate(concurrency_limit=concurrency)
                )
                return
        except Exception as error:  # connection refused and the like
            raise ServiceError(
                f"cannot reach the Prefect server to create work pool {name!r}: {error}; "
                f"start it with `pulpo up`"
            ) from None
    raise ServiceError(
        f"work pool {name!r} on the project's Prefect server is a {pool.type} pool, "
        f"but worker_type = {worker_type!r} needs a {worker_type} pool; delete it "
        f"(`prefect work-pool delete {name}`, with the workers stopped) or set "
        f"work_pool in [tool.pulpo] to another name"
    )
