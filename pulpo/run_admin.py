"""What ``pulpo prefect runs/cancel/cleanup/schedule`` do, against the project's
Prefect server (or the one ``PREFECT_API_URL`` names), for the CLI's one process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pulpo.errors import RunError, ServiceError
from pulpo.project import Project

if TYPE_CHECKING:
    from pulpo.api.runs import Run, Status
    from pulpo.schedule_control import ScheduleState

CANCEL_MESSAGE = "Cancelled with pulpo prefect cancel"
# How long `pulpo prefect cancel` waits for a claimed run's process to go away.
FINISH_CANCELLING_SECONDS = 30.0


def connect(project: Project) -> None:
    """Point this process at the project's Prefect server.

    Raises:
        ServiceError: it is not running and ``PREFECT_API_URL`` names no other.
    """
    from pulpo.services.environment import use_running_services

    if not use_running_services(project).uses_server and not os.environ.get(
        "PREFECT_API_URL"
    ):
        raise ServiceError(
            "the Prefect server is not running; start it with `pulpo up`"
        )


def runs(
    flows: Sequence[str], statuses: Sequence[Status], limit: int, scheduled: bool
) -> list[Run]:
    """The newest runs of ``flows``' deployments first; when some of them are
    ``scheduled``, without the scheduled runs not yet due."""
    from pulpo import run_control

    async def read() -> list[Run]:
        async with _client() as client:
            deployments = await run_control.project_deployments(client, flows)
            return await run_control.list_runs(
                client, deployments, statuses, limit, scheduled
            )

    return asyncio.run(read())


def cancel(flows: Sequence[str], run_id: UUID) -> Run:
    """Cancel run ``run_id`` of one of ``flows`` and return it as it is now.

    Raises:
        RunError: no such run of the project's flows, or it cannot be cancelled.
    """
    from prefect.client.schemas.objects import StateType

    from pulpo import run_control
    from pulpo.api.runs import run_view

    async def go() -> Run:
        async with _client() as client:
            deployments = await run_control.project_deployments(client, flows)
            flow_run = await run_control.read_run(client, deployments, run_id)
            if flow_run is None:
                raise RunError(
                    f"no run {run_id} of this project's flows; list them with "
                    f"`pulpo prefect runs`"
                )
            try:
                kind = await run_control.cancel(client, flow_run, CANCEL_MESSAGE)
            except ValueError as error:
                raise RunError(str(error)) from None
            if kind == StateType.PENDING.value:
                await run_control.finish_cancelling(
                    client, run_id, CANCEL_MESSAGE, FINISH_CANCELLING_SECONDS
                )
            flow_run = await client.read_flow_run(run_id)
            return run_view(flow_run, deployments[flow_run.deployment_id])

    return asyncio.run(go())


def cleanup_candidates(
    flows: Sequence[str], older_than: float, statuses: Sequence[Status]
) -> list[Run]:
    """Ended runs of ``flows`` older than ``older_than`` seconds (see
    :func:`pulpo.run_control.cleanup_candidates`)."""
    from pulpo import run_control

    async def read() -> list[Run]:
        async with _client() as client:
            deployments = await run_control.project_deployments(client, flows)
            return await run_control.cleanup_candidates(
                client, deployments, older_than, statuses
            )

    return asyncio.run(read())


def delete(run_ids: Sequence[UUID]) -> list[UUID]:
    """Delete these runs; the ids deleted (those gone already are left out)."""
    from pulpo import run_control

    async def go() -> list[UUID]:
        async with _client() as client:
            return await run_control.delete_runs(client, run_ids)

    return asyncio.run(go())


def set_paused(flow: str, paused: bool) -> ScheduleState:
    """Pause or resume ``flow``'s schedule."""
    from pulpo.schedule_control import set_paused as on_server

    return asyncio.run(on_server(flow, paused))


def schedule_states(flows: Sequence[str]) -> dict[str, ScheduleState]:
    """Each flow's deployment and schedule as the server holds them."""
    from pulpo.schedule_control import schedule_state

    async def read() -> dict[str, ScheduleState]:
        async with _client() as client:
            return {flow: await schedule_state(flow, client) for flow in flows}

    return asyncio.run(read())


def require_worker(work_pool: str, own_workers: Mapping[str, bool]) -> None:
    """Raises ServiceError unless a worker polls ``work_pool``.

    Prefect calls a worker online until it has missed three heartbeats (15 s and
    more after it stopped); pulpo's own workers (``own_workers``: Prefect name to
    whether its process runs, which pulpo knows at once) count only while running.

    Raises:
        ServiceError: naming the fix.
    """

    async def online() -> bool:
        from prefect.exceptions import ObjectNotFound

        async with _client() as client:
            try:
                workers = await client.read_workers_for_work_pool(work_pool)
            except ObjectNotFound:
                return False
        return any(
            str(w.status.value) == "ONLINE" and own_workers.get(w.name, True)
            for w in workers
        )

    if not asyncio.run(online()):
        raise ServiceError(
            f"no worker is polling work pool {work_pool!r}, so the run would wait; "
            f"start one with `pulpo up` (or `pulpo worker start`)"
        )


def _client() -> Any:
    from prefect.client.orchestration import get_client

    return get_client()
