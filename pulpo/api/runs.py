"""The job view of Prefect flow runs: statuses, and the bodies the jobs API returns."""

from __future__ import annotations

import datetime
import inspect
import typing
from collections.abc import Mapping
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from pulpo.api.storable import storable
from pulpo.errors import ERROR_CODE_MEANINGS, ErrorCode
from pulpo.runtime.failures import code_of_state

Status = Literal["pending", "processing", "completed", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = typing.get_args(Status)
FINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

# Prefect state types by job status; Late and AwaitingRetry are SCHEDULED states.
STATE_TYPES: Mapping[Status, tuple[str, ...]] = {
    "pending": ("SCHEDULED", "PENDING"),
    "processing": ("RUNNING", "CANCELLING", "PAUSED"),
    "completed": ("COMPLETED",),
    "failed": ("FAILED", "CRASHED"),
    "cancelled": ("CANCELLED",),
}
STATUS_OF_TYPE = {
    kind: status for status, kinds in STATE_TYPES.items() for kind in kinds
}
RETRY_TAG = "pulpo-retry-of:"


class RunSubmitted(BaseModel):
    """A run was accepted; poll ``GET /api/v1/runs/{run_id}`` for its status."""

    run_id: UUID
    flow: str
    status: Status
    retry_of: UUID | None = None


class Run(BaseModel):
    """A flow run as a job."""

    run_id: UUID
    flow: str
    name: str
    status: Status
    state: str = Field(description="Prefect's own state name, e.g. Late or Crashed.")
    parameters: dict[str, Any]
    error: str | None = None
    error_code: ErrorCode | None = Field(
        None,
        description="Why a failed or cancelled run ended. "
        + "; ".join(f"{code}: {why}" for code, why in ERROR_CODE_MEANINGS.items())
        + ".",
    )
    retry_of: UUID | None = None
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None


class RunDetail(Run):
    """A flow run with its result (once completed)."""

    result: Any = None


class RunList(BaseModel):
    items: list[Run]
    unreadable: list[UUID] = Field(
        default_factory=list,
        description="Runs left out because the Prefect server fails to return them "
        "(stored with data it cannot serialize; see `pulpo logs prefect`).",
    )


class ProcessingStatus(BaseModel):
    """How many runs are in each status, and the latest failures."""

    is_processing: bool
    show_status: bool = Field(
        description="True while runs are pending or processing, or one failed in the "
        "last 10 minutes: when a UI should show a status bar."
    )
    pending_count: int
    processing_count: int
    completed_count: int
    failed_count: int
    cancelled_count: int
    total_count: int
    recent_failures: list[Run]


class WorkerInfo(BaseModel):
    name: str
    status: str
    last_heartbeat: datetime.datetime | None


class WorkerStatus(BaseModel):
    """Whether a worker is polling the project's work pool."""

    pool: str
    online: bool
    workers: list[WorkerInfo]


def status_of(state_type: str | None) -> Status:
    return STATUS_OF_TYPE.get(state_type or "SCHEDULED", "pending")


def run_view(flow_run: Any, flow: str) -> Run:
    """The job view of a Prefect ``FlowRun``."""
    state = flow_run.state
    kind = state.type.value if state is not None else None
    status = status_of(kind)
    error = None
    if status in ("failed", "cancelled") and state is not None:
        error = state.message or state.name
    retry_of = next(
        (
            _uuid(tag.removeprefix(RETRY_TAG))
            for tag in flow_run.tags
            if tag.startswith(RETRY_TAG)
        ),
        None,
    )
    return Run(
        run_id=flow_run.id,
        flow=flow,
        name=flow_run.name,
        status=status,
        state=state.name if state is not None else "Scheduled",
        parameters=dict(flow_run.parameters),
        error=error,
        error_code=code_of_state(state) if error is not None else None,
        retry_of=retry_of,
        created_at=flow_run.created,
        updated_at=(state.timestamp if state is not None else None) or flow_run.updated,
    )


class RunRequest(BaseModel):
    """The body of ``POST /api/v1/flows/{flow}/runs``: ``{"parameters": {...}}``.

    Each flow's body is a subclass made by :func:`run_request`; type checkers, which
    cannot see those, see this base.
    """

    model_config = ConfigDict(extra="forbid")

    parameters: BaseModel
    refresh_cache: bool = Field(
        default=False,
        description="Run the flow's cached operations again and store their new "
        "results instead of reusing earlier ones.",
    )


def run_request(flow: Any) -> type[RunRequest]:
    """The :class:`RunRequest` of ``flow``, named ``<Flow>Run``.

    The parameters are the flow function's own, with their types and defaults, so a
    wrong or missing one is a 422 naming it before anything reaches Prefect.
    """
    function = flow.fn
    hints = typing.get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    required = False
    for name, parameter in inspect.signature(function).parameters.items():
        annotation = storable(hints.get(name, Any))
        if parameter.default is inspect.Parameter.empty:
            fields[name] = (annotation, ...)
            required = True
        else:
            fields[name] = (annotation, parameter.default)
    title = pascal_case(flow.name)
    parameters = create_model(  # type: ignore[call-overload]
        f"{title}Parameters",
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Parameters of {flow.name}; omitted ones take their defaults.",
        **fields,
    )
    body: Any = (
        (parameters, ...)
        if required
        else (parameters, Field(default_factory=parameters))
    )
    return create_model(
        f"{title}Run",
        __base__=RunRequest,
        __doc__=f"Start {flow.name}.",
        parameters=body,
    )


def pascal_case(name: str) -> str:
    """``scraping_flow`` → ``ScrapingFlow``: how a flow's schemas are named."""
    return "".join(part.title() for part in name.split("_"))


def flows_by_name(flows: list[Any]) -> dict[str, Any]:
    """Prefect flows by their names."""
    return {flow.name: flow for flow in flows}


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:  # a tag someone else wrote
        return None
