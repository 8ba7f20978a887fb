"""Schedules on the Prefect server: paused or not, the next run, pause and resume.

Used by ``pulpo prefect deploy`` (a paused schedule stays paused), ``pulpo prefect
schedule``, ``pulpo inspect`` and the API's flow list. Each function opens a Prefect
client for the server this process is pointed at, unless one is given.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pulpo.errors import RunError

DEPLOYMENT = "pulpo"  # pulpo.deployments.DEPLOYMENT, without importing that module
AUTO_SCHEDULED = "auto-scheduled"  # the tag Prefect's scheduler gives its runs


@dataclass(frozen=True)
class ScheduleState:
    """What the server holds for a flow's deployment."""

    deployed: bool
    paused: bool = False
    has_schedule: bool = False
    next_run: datetime.datetime | None = None


@asynccontextmanager
async def _client(client: Any | None) -> AsyncIterator[Any]:
    if client is not None:
        yield client
        return
    from prefect.client.orchestration import get_client

    async with get_client() as opened:
        yield opened


async def _deployment(client: Any, flow: str) -> Any | None:
    from prefect.exceptions import ObjectNotFound

    try:
        return await client.read_deployment_by_name(f"{flow}/{DEPLOYMENT}")
    except ObjectNotFound:
        return None


async def paused_deployments(flows: Sequence[str], client: Any = None) -> set[str]:
    """The flows among ``flows`` whose deployment exists and is paused."""
    async with _client(client) as prefect:
        found = {flow: await _deployment(prefect, flow) for flow in flows}
    return {flow for flow, d in found.items() if d is not None and d.paused}


async def schedule_runs_now(deployment_id: UUID | str, client: Any = None) -> None:
    """Have the server create the deployment's next scheduled runs now."""
    async with _client(client) as prefect:
        response = await prefect._client.post(
            f"/deployments/{deployment_id}/schedule", json={}
        )
        response.raise_for_status()


async def schedule_state(flow: str, client: Any = None) -> ScheduleState:
    """Whether ``flow`` is deployed, its schedule paused, and its next scheduled run."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    async with _client(client) as prefect:
        deployment = await _deployment(prefect, flow)
        if deployment is None:
            return ScheduleState(deployed=False)
        has_schedule = bool(deployment.schedules)
        next_run = None
        if has_schedule and not deployment.paused:
            runs = await prefect.read_flow_runs(
                deployment_filter=DeploymentFilter(
                    id=DeploymentFilterId(any_=[deployment.id])
                ),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    tags=FlowRunFilterTags(all_=[AUTO_SCHEDULED]),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=1,
            )
            next_run = runs[0].expected_start_time if runs else None
    return ScheduleState(
        deployed=True,
        paused=bool(deployment.paused),
        has_schedule=has_schedule,
        next_run=next_run,
    )


async def set_paused(flow: str, paused: bool, client: Any = None) -> ScheduleState:
    """Pause ``flow``'s schedule (its scheduled runs are removed) or resume it.

    Raises:
        RunError: the flow has no deployment, or its deployment no schedule.
    """
    async with _client(client) as prefect:
        deployment = await _deployment(prefect, flow)
        if deployment is None:
            raise RunError(
                f"flow {flow!r} has no deployment; run `pulpo prefect deploy {flow}` "
                f"(or `pulpo up`)"
            )
        if not deployment.schedules:
            raise RunError(
                f"flow {flow!r} has no schedule; set schedule in "
                f"[tool.pulpo.flows.{flow}] and run `pulpo prefect deploy {flow}`"
            )
        if paused:
            # This route, unlike the client's PATCH, also removes the runs already
            # due (Late) that no worker has claimed yet.
            response = await prefect._client.post(
                f"/deployments/{deployment.id}/pause_deployment"
            )
            response.raise_for_status()
        else:
            await prefect.resume_deployment(deployment.id)
            await schedule_runs_now(deployment.id, prefect)
        return await schedule_state(flow, prefect)
