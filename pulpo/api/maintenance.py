"""Flows with their schedules, and the cleanup of old runs: ``GET /api/v1/flows``
and ``POST /api/v1/run-cleanup`` (what ``pulpo prefect cleanup`` does; not under
``/runs/``, where it would read as a run id)."""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pulpo.api.errors import ERROR_RESPONSES, ApiError
from pulpo.api.jobs import Jobs
from pulpo.api.patience import patiently
from pulpo.api.runs import Run, Status
from pulpo.durations import parse_duration
from pulpo.run_control import cleanup_candidates, delete_runs
from pulpo.schedule_control import schedule_state

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)


class Schedule(BaseModel):
    """A flow's schedule (``[tool.pulpo.flows.<flow>]`` schedule and timezone)."""

    kind: str = Field(description="cron, interval or rrule.")
    value: str | float = Field(description="The cron line, seconds, or RRULE.")
    timezone: str
    description: str
    paused: bool = Field(description="Paused with `pulpo prefect schedule pause`.")
    next_run: datetime.datetime | None = Field(
        description="When the next scheduled run starts (none while paused)."
    )


class FlowInfo(BaseModel):
    name: str
    deployed: bool = Field(description="Its deployment is on the Prefect server.")
    schedule: Schedule | None = None


class FlowList(BaseModel):
    items: list[FlowInfo]


class CleanupRequest(BaseModel):
    """Which ended runs to delete: older than ``older_than``, of ``statuses``."""

    model_config = ConfigDict(extra="forbid")

    older_than: str = Field(
        description="How long ago they ended: seconds, or 30m, 12h, 7d.",
        examples=["7d"],
        max_length=40,
        pattern=r"^\s*\d+(\.\d+)?\s*[smhdw]?\s*$",
    )
    statuses: list[Status] = Field(
        default_factory=list,
        description="Only these (completed, failed, cancelled); default all three.",
    )
    dry_run: bool = Field(
        default=True,
        strict=True,  # 0 or "no" must not delete
        description="List what would be deleted, delete nothing.",
    )
    run_ids: list[UUID] | None = Field(
        default=None,
        max_length=10000,
        description="Delete only these among the matching runs (the ids a dry run "
        "listed), so that nothing unlisted goes.",
    )

    @field_validator("older_than")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # its ValueError becomes a 422 naming the field
        return value

    @field_validator("statuses")
    @classmethod
    def _ended(cls, value: list[Status]) -> list[Status]:
        running = [s for s in value if s in ("pending", "processing")]
        if running:
            raise ValueError(f"only ended runs can be deleted, not {running[0]} ones")
        return value


class CleanupResult(BaseModel):
    dry_run: bool
    runs: list[Run] = Field(description="The matching runs, oldest first.")
    deleted: list[UUID] = Field(description="The runs deleted (none in a dry run).")


@router.get("/flows", tags=["flows"], summary="List flows")
async def list_flows(jobs: Jobs) -> FlowList:
    """The project's flows: deployed or not, and their schedules with the next run."""
    items = []
    for name in jobs.flows:
        table = jobs.flow_settings.get(name)
        schedule = table.flow_schedule if table is not None else None
        state = await patiently(partial(schedule_state, name, jobs.client))
        info: Schedule | None = None
        if schedule is not None:
            next_run = state.next_run
            if next_run is None and not state.paused:
                next_run = schedule.next_run(datetime.datetime.now(datetime.UTC))
            info = Schedule(
                **{
                    key: value
                    for key, value in schedule.as_dict().items()
                    if key in Schedule.model_fields
                },
                paused=state.paused,
                next_run=next_run.astimezone(schedule.zone) if next_run else None,
            )
        items.append(FlowInfo(name=name, deployed=state.deployed, schedule=info))
    return FlowList(items=items)


@router.post("/run-cleanup", tags=["runs"], summary="Delete old ended runs")
async def cleanup_runs(body: CleanupRequest, jobs: Jobs) -> CleanupResult:
    """Delete ended runs older than ``older_than`` (with their logs).

    Send ``dry_run: true`` (the default) first to see what would go, then the same
    request with ``dry_run: false`` and the listed ``run_ids``. Pending and
    processing runs are never deleted.
    """
    deployments = jobs.deployments
    found: list[Run] = await patiently(
        partial(
            cleanup_candidates,
            jobs.client,
            deployments,
            parse_duration(body.older_than),
            body.statuses,
        )
    )
    if body.run_ids is not None:
        wanted = set(body.run_ids)
        found = [run for run in found if run.run_id in wanted]
    deleted: list[Any] = []
    if not body.dry_run:
        if body.run_ids is None and found:
            raise ApiError(
                422,
                "run_ids is required with dry_run false: send the ids a dry run "
                "listed, so that only those are deleted",
            )
        deleted = await delete_runs(jobs.client, [run.run_id for run in found])
    return CleanupResult(dry_run=body.dry_run, runs=found, deleted=deleted)
