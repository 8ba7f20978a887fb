"""Runs of the project's deployments on the Prefect server: list, cancel, clean up.

Shared by the ``pulpo prefect runs/cancel/cleanup`` commands and the API's run
routes; each function takes an open Prefect client (``prefect.get_client()``) and the
project's deployments (``deployment id → flow``, from :func:`project_deployments`).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

from pulpo.api.runs import FINAL, STATE_TYPES, Run, Status, run_view

DEPLOYMENT = "pulpo"  # pulpo.deployments.DEPLOYMENT
PAGE = 200
CANCELLED_BEFORE_START = "Cancelled before it started"


def process_gone(infrastructure_pid: str | None) -> bool:
    """Whether the process a worker recorded for a run (``pid`` or ``host:pid``) has
    ended, read from /proc (no signal is sent).

    pulpo's worker runs on this machine, in this pid namespace; a worker elsewhere
    (a container backend) must not use this. False when unknown or on another host,
    and with ``backend = "docker"`` (workers and the API are containers, each with pids
    of its own; Prefect 3.9's process worker records a bare pid, without its host).
    """
    host, _, pid = (infrastructure_pid or "").rpartition(":")
    if not pid.isdigit() or host not in ("", socket.gethostname()):
        return False
    if _workers_in_containers():
        return False
    return not Path(f"/proc/{pid}").exists()


def _workers_in_containers() -> bool:
    from pulpo.errors import ProjectError
    from pulpo.settings import Settings

    try:
        return Settings.from_environment().backend == "docker"
    except ProjectError:
        return False


async def project_deployments(client: Any, flows: Iterable[str]) -> dict[UUID, str]:
    """The deployment of each of ``flows`` that has one: ``id → flow``."""
    from prefect.exceptions import ObjectNotFound

    found: dict[UUID, str] = {}
    for flow in flows:
        try:
            deployment = await client.read_deployment_by_name(f"{flow}/{DEPLOYMENT}")
        except ObjectNotFound:
            continue
        found[deployment.id] = flow
    return found


def run_filters(
    deployments: Mapping[UUID, str], statuses: Sequence[Status] = ()
) -> dict[str, Any]:
    """``read_flow_runs`` filters: runs of ``deployments`` in ``statuses`` (any if
    empty)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    filters: dict[str, Any] = {
        "deployment_filter": DeploymentFilter(
            id=DeploymentFilterId(any_=list(deployments))
        )
    }
    if statuses:
        kinds = [StateType(k) for s in statuses for k in STATE_TYPES[s]]
        filters["flow_run_filter"] = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=kinds))
        )
    return filters


def only_due(filters: dict[str, Any]) -> dict[str, Any]:
    """``filters`` without scheduled runs not yet due: a schedule keeps up to 100
    future runs, which are its next runs, not pending work."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
    )

    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    due = FlowRunFilterExpectedStartTime(before_=soon)  # type: ignore[arg-type]
    current = filters.get("flow_run_filter") or FlowRunFilter()
    return {
        **filters,
        "flow_run_filter": current.model_copy(update={"expected_start_time": due}),
    }


async def list_runs(
    client: Any,
    deployments: Mapping[UUID, str],
    statuses: Sequence[Status] = (),
    limit: int = 50,
    scheduled: bool = True,
) -> list[Run]:
    """The newest runs of ``deployments`` first (by expected start); when some are
    ``scheduled``, without the runs not yet due."""
    from prefect.client.schemas.sorting import FlowRunSort

    if not deployments:
        return []
    filters = run_filters(deployments, statuses)
    if scheduled:
        filters = only_due(filters)
    found = await client.read_flow_runs(
        **filters, sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=limit
    )
    return [run_view(r, deployments.get(r.deployment_id, "?")) for r in found]


async def read_run(client: Any, deployments: Mapping[UUID, str], run_id: UUID) -> Any:
    """The Prefect flow run ``run_id``, or None when it is not one of the project's."""
    from prefect.exceptions import ObjectNotFound

    try:
        flow_run = await client.read_flow_run(run_id)
    except ObjectNotFound:
        return None
    return flow_run if flow_run.deployment_id in deployments else None


async def cancel(client: Any, flow_run: Any, message: str) -> str:
    """Cancel ``flow_run``: at once if it has not started, else through its worker.

    A run the worker has claimed (Pending) is marked Cancelling, so that its process
    exits without running the flow; Prefect would leave it Cancelling for minutes,
    so :func:`finish_cancelling` marks it Cancelled once that process is gone.

    Returns:
        The state type it was in: ``SCHEDULED``, ``PENDING``, ``RUNNING``...

    Raises:
        ValueError: the run has ended, or Prefect refused (the reason).
    """
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.responses import SetStateStatus
    from prefect.states import Cancelled, State

    kind = flow_run.state.type if flow_run.state is not None else None
    status = run_view(flow_run, "?").status
    if status in FINAL:
        raise ValueError(f"run {flow_run.id} already ended {status}")
    if kind == StateType.CANCELLING:
        return kind.value
    new_state = (
        Cancelled(message=f"{message} before it started")
        if kind in (StateType.SCHEDULED, None)
        else State(type=StateType.CANCELLING, message=message)
    )
    outcome = await client.set_flow_run_state(flow_run.id, new_state)
    if outcome.status != SetStateStatus.ACCEPT:
        reason = getattr(outcome.details, "reason", None) or outcome.status.value
        raise ValueError(f"run {flow_run.id} cannot be cancelled now: {reason}")
    return kind.value if kind is not None else "SCHEDULED"


async def finish_cancelling(
    client: Any, run_id: UUID, message: str, within: float
) -> None:
    """Mark a claimed run Cancelled once its process exited without starting it.

    Not sooner: Prefect lets a Cancelled run start (it allows re-running ended
    runs), while a Cancelling one is refused. Only a process on this machine can be
    seen to be gone; elsewhere Prefect's own five-minute cleanup remains.
    """
    from prefect.client.schemas.objects import StateType
    from prefect.states import Cancelled

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        try:
            flow_run = await client.read_flow_run(run_id)
        except Exception:  # deleted, or Prefect away: leave it to Prefect
            return
        state = flow_run.state
        if state is None or state.type != StateType.CANCELLING:
            return  # the worker or Prefect finished it
        if flow_run.start_time is not None:
            return  # it started: the worker stops its process
        if process_gone(flow_run.infrastructure_pid):
            await client.set_flow_run_state(
                run_id, Cancelled(message=f"{message} before it started")
            )
            return


async def cleanup_candidates(
    client: Any,
    deployments: Mapping[UUID, str],
    older_than: float,
    statuses: Sequence[Status] = (),
    now: datetime.datetime | None = None,
) -> list[Run]:
    """Ended runs (completed, failed or cancelled; or only ``statuses``, which must
    be among those) whose last state is older than ``older_than`` seconds, oldest
    first. Runs still pending or processing are never candidates."""
    from prefect.client.schemas.sorting import FlowRunSort

    chosen: list[Status] = [s for s in statuses if s in FINAL] or [
        "completed",
        "failed",
        "cancelled",
    ]
    if not deployments:
        return []
    cutoff = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(
        seconds=older_than
    )
    filters = run_filters(deployments, chosen)
    found: list[Run] = []
    offset = 0
    while True:
        page = await client.read_flow_runs(
            **filters,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE,
            offset=offset,
        )
        for flow_run in page:
            view = run_view(flow_run, deployments.get(flow_run.deployment_id, "?"))
            ended = view.updated_at or view.created_at
            if view.status in FINAL and ended is not None and ended <= cutoff:
                found.append(view)
        if len(page) < PAGE:
            break
        offset += PAGE
    return sorted(found, key=lambda run: run.updated_at or run.created_at or cutoff)


async def delete_runs(client: Any, run_ids: Iterable[UUID]) -> list[UUID]:
    """Delete these flow runs (with their task runs and logs); the ids deleted."""
    from prefect.exceptions import ObjectNotFound

    deleted = []
    for run_id in run_ids:
        try:
            await client.delete_flow_run(run_id)
        except ObjectNotFound:  # deleted meanwhile
            continue
        deleted.append(run_id)
    return deleted
