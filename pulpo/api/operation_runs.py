"""The operations of one run: Prefect's task runs of a flow run, one row per operation.

A mapped operation runs as many task runs; its row sums them up (how many, how many
failed, first start, last end) so that a timeline shows one bar per operation.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from pulpo.api.runs import Status, status_of

# Prefect lists at most this many task runs per request.
PAGE = 200
# A mapped operation over a huge input is summed from this many task runs at most.
MOST_TASK_RUNS = 5000
# Which state of an operation's task runs it shows: the worst one wins.
SEVERITY: tuple[Status, ...] = (
    "failed",
    "cancelled",
    "processing",
    "pending",
    "completed",
)


class OperationRun(BaseModel):
    """One operation of a run: its state and when it ran."""

    operation: str = Field(description="The operation's name, e.g. scraping.merge.")
    status: Status
    state: str = Field(description="Prefect's state name of the task run shown.")
    task_runs: int = Field(description="Task runs: more than one for a mapped one.")
    failed: int = Field(description="Task runs that failed or crashed.")
    started_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    seconds: float | None = Field(description="From first start to last end.")
    error: str | None = None


class OperationRuns(BaseModel):
    """The operations a run ran so far, in the order they started."""

    run_id: UUID
    operations: list[OperationRun]


def operation_name(task_run: Any) -> str:
    """``scraping.merge-0`` → ``scraping.merge``: Prefect names a task run
    ``<task name>-<dynamic key>``, and generated tasks are named after operations."""
    suffix = f"-{task_run.dynamic_key[:3]}"
    name: str = task_run.name
    return name[: -len(suffix)] if name.endswith(suffix) else name


def summarise(task_runs: Iterable[Any]) -> list[OperationRun]:
    """One :class:`OperationRun` per operation, ordered by first start."""
    grouped: dict[str, list[Any]] = {}
    for task_run in task_runs:
        grouped.setdefault(operation_name(task_run), []).append(task_run)
    rows = [_row(name, runs) for name, runs in grouped.items()]
    never = datetime.datetime.max.replace(tzinfo=datetime.UTC)
    return sorted(rows, key=lambda row: (row.started_at or never, row.operation))


def _row(name: str, runs: list[Any]) -> OperationRun:
    statuses = [status_of(_type(run)) for run in runs]
    shown = min(range(len(runs)), key=lambda i: SEVERITY.index(statuses[i]))
    starts = [run.start_time for run in runs if run.start_time is not None]
    ends = [run.end_time for run in runs if run.end_time is not None]
    started = min(starts) if starts else None
    finished = all(s in ("completed", "failed", "cancelled") for s in statuses)
    ended = max(ends) if ends and finished else None
    state = runs[shown].state
    error = None
    if statuses[shown] in ("failed", "cancelled") and state is not None:
        error = state.message or state.name
    return OperationRun(
        operation=name,
        status=statuses[shown],
        state=runs[shown].state_name or "Pending",
        task_runs=len(runs),
        failed=sum(1 for s in statuses if s == "failed"),
        started_at=started,
        ended_at=ended,
        seconds=(ended - started).total_seconds() if started and ended else None,
        error=error,
    )


def _type(task_run: Any) -> str | None:
    kind = task_run.state_type
    return kind.value if kind is not None else None


async def read_operation_runs(client: Any, run_id: UUID) -> list[OperationRun]:
    """The operations of flow run ``run_id`` from Prefect's task runs (upstream flows
    run inline in the same flow run, so theirs are included)."""
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import TaskRunSort

    from pulpo.api.patience import patiently

    found: list[Any] = []
    while len(found) < MOST_TASK_RUNS:
        page = await patiently(
            lambda: client.read_task_runs(
                task_run_filter=TaskRunFilter(
                    flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])
                ),
                sort=TaskRunSort.EXPECTED_START_TIME_ASC,
                limit=PAGE,
                offset=len(found),
            )
        )
        found.extend(page)
        if len(page) < PAGE:
            break
    return summarise(found)
