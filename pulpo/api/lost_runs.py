"""Runs whose process is gone: marked Crashed, and started again if the flow says so.

A worker that dies (``kill -9``, the machine lost) takes its flow runs' processes
with it, and nobody is left to tell Prefect: the run would stay Running for ever.
The API checks, every few seconds, that the process each running run recorded
(``infrastructure_pid``, ``host:pid``) still exists on this machine, where pulpo's
worker runs. One that is gone is marked Crashed ("worker lost"). A crashed run of a
flow with ``retry_crashed = N`` in its ``[tool.pulpo.flows.<flow>]`` table gets a new
run with the same parameters, up to N times in a row (see docs/decisions/0022).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pulpo.api.patience import patiently
from pulpo.api.runs import run_view
from pulpo.run_control import only_due, process_gone, run_filters

if TYPE_CHECKING:
    from pulpo.api.jobs import JobService

logger = logging.getLogger("pulpo.api")
CHECK_SECONDS = 2.0
LOST_MESSAGE = "crashed: worker lost (the run's process {pid} is gone)"
CRASH_RETRY_TAG = "pulpo-crash-retry:"  # the attempt number, 1 for the first retry
RETRIED_TAG = "pulpo-crash-retried"  # on a crashed run once its retry exists
# Crashed runs older than this are not retried (the API was down meanwhile).
RETRY_WITHIN = datetime.timedelta(hours=1)


async def watch(jobs: JobService, every: float = CHECK_SECONDS) -> None:
    """Check the project's runs every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await check_once(jobs)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Prefect busy or restarting: next round
            logger.warning("checking for lost runs failed: %s", error)


async def check_once(jobs: JobService) -> None:
    """Mark the runs whose process is gone Crashed; retry crashed ones as configured."""
    deployments = jobs.deployments
    if not deployments:
        return
    client = jobs.client
    running = await patiently(
        lambda: client.read_flow_runs(
            **only_due(run_filters(deployments, ["pending", "processing"])), limit=200
        )
    )
    for flow_run in running:
        # A paused (suspended) run has no process on purpose; a scheduled one none yet.
        kind = flow_run.state.type.value if flow_run.state is not None else ""
        if kind in ("RUNNING", "PENDING", "CANCELLING") and process_gone(
            flow_run.infrastructure_pid
        ):
            await _mark_lost(client, flow_run.id)
    if not any(t.retry_crashed for t in jobs.flow_settings.values()):
        return
    crashed = await patiently(lambda: client.read_flow_runs(**_crashed(deployments)))
    cutoff = datetime.datetime.now(datetime.UTC) - RETRY_WITHIN
    for flow_run in crashed:
        flow = deployments.get(flow_run.deployment_id)
        table = jobs.flow_settings.get(flow or "")
        updated = flow_run.state.timestamp if flow_run.state else None
        if (
            flow is None
            or table is None
            or RETRIED_TAG in flow_run.tags
            or (updated is not None and updated < cutoff)
        ):
            continue
        attempt = _attempt(flow_run.tags) + 1
        if attempt <= table.retry_crashed:
            await _retry(jobs, flow, flow_run, attempt)


async def _mark_lost(client: Any, run_id: UUID) -> None:
    """Crashed, unless the run ended meanwhile (its process exits after that)."""
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    flow_run = await patiently(lambda: client.read_flow_run(run_id))
    kind = flow_run.state.type if flow_run.state is not None else None
    if kind not in (StateType.RUNNING, StateType.PENDING, StateType.CANCELLING):
        return
    if not process_gone(flow_run.infrastructure_pid):
        return
    pid = (flow_run.infrastructure_pid or "").rpartition(":")[2]
    state: Any = Crashed(message=LOST_MESSAGE.format(pid=pid))
    if kind == StateType.CANCELLING:  # it was being cancelled: it is, now
        from prefect.states import Cancelled

        state = Cancelled(message="Cancelled; its process is gone")
    await patiently(lambda: client.set_flow_run_state(run_id, state, force=True))
    logger.warning("run %s: %s", run_id, state.message)


async def _retry(jobs: JobService, flow: str, flow_run: Any, attempt: int) -> None:
    """A new run of ``flow`` with the crashed run's parameters, then the crashed run
    is tagged so that it is retried once (the key makes a repeat return the same)."""
    view = run_view(flow_run, flow)
    submitted = await jobs.resubmit(
        view,
        [f"{CRASH_RETRY_TAG}{attempt}"],
        f"crash-retry:{flow_run.id}",
    )
    await patiently(
        lambda: jobs.client.update_flow_run(
            flow_run.id, tags=[*flow_run.tags, RETRIED_TAG]
        )
    )
    logger.warning(
        "run %s of %s crashed; started run %s (crash retry %d)",
        flow_run.id,
        flow,
        submitted.run_id,
        attempt,
    )


def _attempt(tags: list[str]) -> int:
    """Which crash retry a run is (0 for a first run)."""
    for tag in tags:
        if tag.startswith(CRASH_RETRY_TAG) and tag[len(CRASH_RETRY_TAG) :].isdigit():
            return int(tag[len(CRASH_RETRY_TAG) :])
    return 0


def _crashed(deployments: dict[UUID, str]) -> dict[str, Any]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    filters = run_filters(deployments)
    filters["flow_run_filter"] = FlowRunFilter(
        state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Crashed"]))
    )
    return {**filters, "sort": FlowRunSort.EXPECTED_START_TIME_DESC, "limit": 50}
