"""``JobService``: submit, watch, retry and cancel runs of the project's deployed flows.

Jobs are Prefect flow runs of the ``<flow>/pulpo`` deployments that the worker
executes; nothing is stored twice. The routes here are the same for every project.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, cast
from uuid import UUID, uuid4

import httpx
from fastapi import APIRouter, Depends, Query, Request, status
from pydantic_core import to_jsonable_python

from pulpo.api.errors import ERROR_RESPONSES, ApiError
from pulpo.api.idempotency import IdempotencyKey, fingerprint, reused
from pulpo.api.operation_runs import OperationRuns, read_operation_runs
from pulpo.api.patience import patiently
from pulpo.api.runs import (
    FINAL,
    RETRY_TAG,
    STATE_TYPES,
    STATUSES,
    ProcessingStatus,
    Run,
    RunDetail,
    RunList,
    RunRequest,
    RunSubmitted,
    Status,
    WorkerInfo,
    WorkerStatus,
    run_view,
)
from pulpo.api.unreadable_runs import runs_around_unreadable
from pulpo.deployments import DEPLOYMENT, job_variables
from pulpo.errors import did_you_mean
from pulpo.observe.tracing import run_labels
from pulpo.run_control import only_due, process_gone
from pulpo.runtime.forkserver import start_with_first_run
from pulpo.settings import FlowSettings

# Only the API imports this module (its generated routes do, before the flow
# modules). It reads every flow's signature and runs flows only through deployments,
# so a flow module's import must not start a forkserver here.
start_with_first_run()

logger = logging.getLogger("pulpo.api")
API_TAG = "pulpo-api"
REQUEST_TAG = "pulpo-request:"
RESULT_CACHE_SIZE = 256
RECENT_FAILURES = 5
FINISH_CANCELLING_SECONDS = 120.0
# Run creations in flight at once. On Prefect's SQLite more make writers refuse each
# other ("database is locked") and one at a time queues them behind slow ones; a
# PostgreSQL server takes many (docs/benchmarks.md, run submissions).
CREATIONS_ON_SQLITE = 4
CREATIONS_ON_POSTGRES = 16


class JobService:
    """Jobs over the Prefect server the process is configured for (PREFECT_API_URL)."""

    def __init__(
        self,
        flows: Mapping[str, Any],
        root: Path,
        work_pool: str,
        creations_at_once: int = CREATIONS_ON_SQLITE,
        flow_settings: Mapping[str, FlowSettings] | None = None,
        run_retention: float | None = None,
    ) -> None:
        self.flows = dict(flows)
        # Seconds an ended run is kept (pulpo.api.retention); None: for ever.
        self.run_retention = run_retention
        self.root = root
        self.work_pool = work_pool
        # [tool.pulpo.flows.<flow>] tables: schedules, retry_crashed.
        self.flow_settings = dict(flow_settings or {})
        self._client: Any = None
        self._deployments: dict[str, UUID] = {}
        self._flow_names: dict[UUID, str] = {}
        self._results: OrderedDict[UUID, Any] = OrderedDict()
        self._creating = asyncio.Semaphore(creations_at_once)
        self._finishing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the Prefect client and look up the deployment of every flow.

        ``pulpo up`` (and ``pulpo api start``) register them before the API starts;
        a flow without one is left out, and its runs are refused with a 409 that
        says how to deploy it.
        """
        from prefect.client.orchestration import get_client

        from pulpo.api import lost_runs

        self._client = get_client()
        await self._client.__aenter__()
        for name in self.flows:
            if await self._look_up(name) is None:
                logger.warning(
                    "flow %s has no deployment %s/%s; run `pulpo prefect deploy %s`",
                    name,
                    name,
                    DEPLOYMENT,
                    name,
                )
        watchers = [asyncio.create_task(lost_runs.watch(self))]
        if self.run_retention is not None:
            from pulpo.api.retention import keep_runs_for

            watchers.append(
                asyncio.create_task(keep_runs_for(self, self.run_retention))
            )
        for watcher in watchers:
            self._finishing.add(watcher)
            watcher.add_done_callback(self._finishing.discard)

    async def _look_up(self, flow: str) -> UUID | None:
        """The id of ``flow``'s deployment on the server (remembered), or None."""
        from prefect.exceptions import ObjectNotFound

        try:
            deployment = await patiently(
                lambda: self._client.read_deployment_by_name(f"{flow}/{DEPLOYMENT}")
            )
        except ObjectNotFound:
            self._deployments.pop(flow, None)
            return None
        self._deployments[flow] = deployment.id
        self._flow_names[deployment.flow_id] = flow
        return UUID(str(deployment.id))

    @property
    def client(self) -> Any:
        """The open Prefect client."""
        return self._client

    @property
    def deployments(self) -> dict[UUID, str]:
        """The project's deployments found so far: ``id → flow``."""
        return {UUID(str(d)): flow for flow, d in self._deployments.items()}

    async def close(self) -> None:
        """Close the Prefect client."""
        for task in self._finishing:
            task.cancel()
        if self._client is not None:
            await self._client.__aexit__(None, None, None)

    async def submit(
        self, flow: str, request: RunRequest, idempotency_key: str | None = None
    ) -> RunSubmitted:
        """Create a run of ``flow``'s deployment; the worker picks it up.

        A second submission with the same ``idempotency_key`` gets the first one's
        run (422 if its parameters differ). With ``refresh_cache`` in the request the
        run's cached operations run again; its parameters stay the flow's own.
        """
        values = request.parameters.model_dump(mode="json", exclude_unset=True)
        variables = job_variables(request.refresh_cache)
        return await self._create(
            flow, values, [API_TAG], None, idempotency_key, variables
        )

    async def run(self, run_id: UUID) -> RunDetail:
        """One run with its result once completed; 404 for other projects' runs."""
        flow_run = await self._read(run_id)
        view = self._view(flow_run)
        result = await self._result(flow_run) if view.status == "completed" else None
        return RunDetail(**view.model_dump(), result=result)

    async def operations(self, run_id: UUID) -> OperationRuns:
        """The operations of one run with their states and timing (from its task
        runs); 404 for other projects' runs."""
        await self._read(run_id)
        rows = await read_operation_runs(self._client, run_id)
        return OperationRuns(run_id=run_id, operations=rows)

    async def runs(
        self, statuses: list[Status], flow: str | None, limit: int
    ) -> RunList:
        """The newest runs first, optionally of some statuses or one flow."""
        from prefect.client.schemas.sorting import FlowRunSort

        found, unreadable = await self._readable_runs(
            self._filters(statuses, flow), FlowRunSort.EXPECTED_START_TIME_DESC, limit
        )
        return RunList(items=[self._view(r) for r in found], unreadable=unreadable)

    async def retry(
        self, run_id: UUID, idempotency_key: str | None = None
    ) -> RunSubmitted:
        """A new run with the same parameters, tagged as a retry of ``run_id``."""
        flow_run = await self._read(run_id)
        view = self._view(flow_run)
        if view.status not in ("failed", "cancelled"):
            being = " being cancelled" if view.state == "Cancelling" else ""
            raise ApiError(
                409,
                f"run {run_id} is {view.status}{being}; only failed or cancelled runs "
                f"can be retried (submit a new run instead)",
            )
        tags = [API_TAG, f"{RETRY_TAG}{run_id}"]
        return await self._create(
            view.flow,
            view.parameters,
            tags,
            run_id,
            idempotency_key,
            dict(flow_run.job_variables or {}),  # a refreshing run retries as one
        )

    async def resubmit(self, run: Run, tags: list[str], key: str) -> RunSubmitted:
        """A new run of ``run``'s flow with its parameters, tagged as its retry; a
        second call with the same ``key`` returns the first one's run."""
        return await self._create(
            run.flow,
            run.parameters,
            [API_TAG, f"{RETRY_TAG}{run.run_id}", *tags],
            run.run_id,
            key,
        )

    async def cancel(self, run_id: UUID) -> Run:
        """Cancel a run: at once if it has not started, else through the worker.

        A run the worker has claimed but not started (Pending) is marked Cancelling,
        so its process, once up, exits without running the flow; Prefect then leaves
        it Cancelling for five minutes, so the API marks it Cancelled once that
        process is gone (:meth:`_finish_cancelling`). Cancelling a run already being
        cancelled answers as the first call did.
        """
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.states import Cancelled, State

        flow_run = await self._read(run_id)
        view = self._view(flow_run)
        if view.status in FINAL:
            raise ApiError(409, f"run {run_id} already ended {view.status}")
        kind = flow_run.state.type if flow_run.state is not None else None
        if kind == StateType.CANCELLING:
            return view
        new_state = (
            Cancelled(message="Cancelled through the pulpo API before it started")
            if kind in (StateType.SCHEDULED, None)
            else State(
                type=StateType.CANCELLING, message="Cancelled through the pulpo API"
            )
        )
        outcome = await patiently(
            lambda: self._client.set_flow_run_state(run_id, new_state)
        )
        if outcome.status != SetStateStatus.ACCEPT:
            reason = getattr(outcome.details, "reason", None) or outcome.status.value
            raise ApiError(409, f"run {run_id} cannot be cancelled now: {reason}")
        if kind == StateType.PENDING:
            task = asyncio.create_task(self._finish_cancelling(run_id))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
        return self._view(await self._read(run_id))

    async def _finish_cancelling(self, run_id: UUID) -> None:
        """Mark a claimed run Cancelled once its process exited without starting it.

        Not sooner: Prefect lets a Cancelled run start (it allows re-running ended
        runs), while a Cancelling one is refused. Only a process on this machine can
        be seen to be gone; elsewhere Prefect's own five-minute cleanup remains.
        """
        from prefect.client.schemas.objects import StateType
        from prefect.states import Cancelled

        deadline = time.monotonic() + FINISH_CANCELLING_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            try:
                flow_run = await patiently(lambda: self._client.read_flow_run(run_id))
            except Exception:  # deleted, or Prefect away: leave it to Prefect
                return
            state = flow_run.state
            if state is None or state.type != StateType.CANCELLING:
                return  # the worker or Prefect finished it
            if flow_run.start_time is not None:
                return  # it started: the worker stops its process
            if process_gone(flow_run.infrastructure_pid):
                await patiently(
                    lambda: self._client.set_flow_run_state(
                        run_id,
                        Cancelled(
                            message="Cancelled through the pulpo API before it started"
                        ),
                    )
                )
                return

    async def processing_status(self) -> ProcessingStatus:
        """Counts per status over the project's deployed flows, newest failures."""
        from prefect.client.schemas.sorting import FlowRunSort

        counts = await asyncio.gather(
            *(
                patiently(
                    partial(self._client.count_flow_runs, **self._filters([s], None))
                )
                for s in STATUSES
            )
        )
        by_status = dict(zip(STATUSES, counts, strict=True))
        failures, _ = await self._readable_runs(
            self._filters(["failed"], None), FlowRunSort.END_TIME_DESC, RECENT_FAILURES
        )
        recent = [self._view(r) for r in failures]
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
        processing = by_status["pending"] + by_status["processing"] > 0
        return ProcessingStatus(
            is_processing=processing,
            show_status=processing
            or any(r.updated_at and r.updated_at > cutoff for r in recent),
            **{f"{s}_count": n for s, n in by_status.items()},
            total_count=sum(counts),
            recent_failures=recent,
        )

    async def worker_status(self) -> WorkerStatus:
        """The workers Prefect knows in the project's pool, and whether one is online."""
        from prefect.exceptions import ObjectNotFound

        try:
            workers = await patiently(
                lambda: self._client.read_workers_for_work_pool(self.work_pool)
            )
        except ObjectNotFound:
            workers = []
        infos = [
            WorkerInfo(
                name=w.name,
                status=str(w.status.value),
                last_heartbeat=w.last_heartbeat_time,
            )
            for w in workers
        ]
        return WorkerStatus(
            pool=self.work_pool,
            online=any(w.status == "ONLINE" for w in infos),
            workers=infos,
        )

    async def ended_since(
        self, after: datetime.datetime, page: int = 200
    ) -> tuple[list[Any], list[Any]]:
        """Flow runs of the project's flows, and their task runs, that ended (completed,
        failed, crashed or cancelled) after ``after``, as Prefect returns them."""
        from prefect.client.schemas.filters import (
            FlowRunFilter,
            FlowRunFilterDeploymentId,
            FlowRunFilterEndTime,
            TaskRunFilter,
            TaskRunFilterEndTime,
        )
        from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort

        ended = self._filters(["completed", "failed", "cancelled"], None)
        ended["flow_run_filter"].end_time = FlowRunFilterEndTime(
            after_=cast(Any, after)
        )
        flow_runs = await self._pages(
            self._client.read_flow_runs, ended, FlowRunSort.END_TIME_DESC, page
        )
        tasks = {
            "task_run_filter": TaskRunFilter(
                end_time=TaskRunFilterEndTime(after_=cast(Any, after))
            ),
            "flow_run_filter": FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(
                    any_=list(self._deployments.values())
                )
            ),
        }
        task_runs = await self._pages(
            self._client.read_task_runs, tasks, TaskRunSort.END_TIME_DESC, page
        )
        return flow_runs, task_runs

    async def _pages(
        self, read: Any, filters: dict[str, Any], sort: Any, page: int
    ) -> list[Any]:
        found: list[Any] = []
        while True:
            batch = await patiently(
                partial(read, **filters, sort=sort, limit=page, offset=len(found))
            )
            found.extend(batch)
            if len(batch) < page:
                return found

    def flow_of(self, flow_run: Any) -> str:
        """The name of the project's flow that ``flow_run`` runs (``?`` if unknown)."""
        return self._flow_names.get(flow_run.flow_id, "?")

    async def prefect_reachable(self) -> bool:
        """True when the Prefect server answers its health check."""
        return self._client is not None and await self._client.api_healthcheck() is None

    async def _create(
        self,
        flow: str,
        parameters: dict[str, Any],
        tags: list[str],
        retry_of: UUID | None,
        idempotency_key: str | None,
        variables: dict[str, Any] | None = None,
    ) -> RunSubmitted:
        from prefect.exceptions import ObjectNotFound

        # Prefect keeps one run per flow and key. Without the client's key, a fresh
        # one still makes it safe to send the request again while the server is busy.
        request = fingerprint(
            [retry_of, parameters, variables] if variables else [retry_of, parameters]
        )
        key = (
            f"pulpo-api:{'retry' if retry_of else 'submit'}:{idempotency_key}"
            if idempotency_key is not None
            else f"pulpo-api:{uuid4()}"
        )
        flow_run = None
        for known in (self._deployments.get(flow), None):
            # A deployment deleted or registered again since: look it up once more.
            deployment = known or await self._look_up(flow)
            if deployment is None:
                break
            try:
                async with self._creating:
                    flow_run = await patiently(
                        partial(
                            self._client.create_flow_run_from_deployment,
                            deployment,
                            parameters=parameters,
                            tags=[*tags, f"{REQUEST_TAG}{request}"],
                            idempotency_key=key,
                            job_variables=variables or None,
                            # The run's span continues this request's trace.
                            labels=run_labels() or None,
                        )
                    )
                break
            except (ObjectNotFound, httpx.HTTPStatusError) as error:
                if isinstance(error, httpx.HTTPStatusError) and (
                    error.response.status_code != 404
                ):
                    raise
                self._deployments.pop(flow, None)
        if flow_run is None:
            raise ApiError(
                409,
                f"flow {flow!r} has no deployment on the Prefect server; run `pulpo "
                f"prefect deploy {flow}` (or `pulpo up`), then retry",
            )
        if idempotency_key is not None and f"{REQUEST_TAG}{request}" not in (
            flow_run.tags
        ):
            raise reused(idempotency_key)
        return RunSubmitted(
            run_id=flow_run.id, flow=flow, status="pending", retry_of=retry_of
        )

    async def _readable_runs(
        self, filters: dict[str, Any], sort: Any, limit: int
    ) -> tuple[list[Any], list[UUID]]:
        """Up to ``limit`` runs, and the ids of those Prefect fails to return."""
        try:
            found = await patiently(
                lambda: self._client.read_flow_runs(**filters, sort=sort, limit=limit)
            )
        except httpx.HTTPStatusError as error:
            if error.response.status_code != 500:
                raise
            return await runs_around_unreadable(filters, sort, limit)
        return list(found), []

    async def _read(self, run_id: UUID) -> Any:
        from prefect.exceptions import ObjectNotFound

        try:
            flow_run = await patiently(lambda: self._client.read_flow_run(run_id))
        except ObjectNotFound:
            flow_run = None
        if flow_run is None or flow_run.flow_id not in self._flow_names:
            raise ApiError(404, f"no run {run_id} of this project's flows")
        return flow_run

    async def _result(self, flow_run: Any) -> Any:
        if flow_run.id in self._results:
            self._results.move_to_end(flow_run.id)
            return self._results[flow_run.id]
        try:
            value = await flow_run.state.aresult(raise_on_failure=False)
        except Exception:  # e.g. the result file was removed with `pulpo clean --all`
            return None
        result = to_jsonable_python(value, fallback=repr)
        self._results[flow_run.id] = result
        if len(self._results) > RESULT_CACHE_SIZE:
            self._results.popitem(last=False)
        return result

    def _view(self, flow_run: Any) -> Run:
        return run_view(flow_run, self._flow_names.get(flow_run.flow_id, "?"))

    def _filters(self, statuses: list[Status], flow: str | None) -> dict[str, Any]:
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType

        if flow is not None and flow not in self.flows:
            raise ApiError(
                404,
                f"unknown flow {flow!r}{did_you_mean(flow, self.flows)}; flows: "
                f"{', '.join(self.flows)}",
            )
        deployments = [
            deployment
            for name, deployment in self._deployments.items()
            if flow is None or name == flow
        ]
        filters: dict[str, Any] = {
            "deployment_filter": DeploymentFilter(
                id=DeploymentFilterId(any_=deployments)
            )
        }
        if statuses:
            kinds = [StateType(k) for s in statuses for k in STATE_TYPES[s]]
            filters["flow_run_filter"] = FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=kinds))
            )
        scheduled = any(
            table.schedule is not None
            for name, table in self.flow_settings.items()
            if flow is None or name == flow
        )
        return only_due(filters) if scheduled else filters


def job_service(request: Request) -> JobService:
    service: JobService = request.app.state.jobs
    return service


Jobs = Annotated[JobService, Depends(job_service)]

router = APIRouter(prefix="/api/v1", tags=["runs"], responses=ERROR_RESPONSES)


@router.get("/runs", summary="List runs")
async def list_runs(
    jobs: Jobs,
    status: Annotated[
        list[Status] | None, Query(description="Only these statuses.")
    ] = None,
    flow: Annotated[
        str | None, Query(max_length=200, description="Only this flow.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
) -> RunList:
    """The newest runs of the project's flows first."""
    return await jobs.runs(status or [], flow, limit)


@router.get("/runs/{run_id}", summary="Get a run")
async def get_run(run_id: UUID, jobs: Jobs) -> RunDetail:
    """A run's status; its result once completed, its error once failed."""
    return await jobs.run(run_id)


@router.get("/runs/{run_id}/operations", summary="A run's operations")
async def get_run_operations(run_id: UUID, jobs: Jobs) -> OperationRuns:
    """Each operation the run ran so far: status, task runs (several for a mapped
    operation), first start, last end, error; in the order they started."""
    return await jobs.operations(run_id)


@router.post(
    "/runs/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED, summary="Retry a run"
)
async def retry_run(
    run_id: UUID, jobs: Jobs, idempotency_key: IdempotencyKey = None
) -> RunSubmitted:
    """Start a new run with the same parameters as a failed or cancelled one."""
    return await jobs.retry(run_id, idempotency_key)


@router.post(
    "/runs/{run_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Cancel a run",
)
async def cancel_run(run_id: UUID, jobs: Jobs) -> Run:
    """Cancel a pending or processing run."""
    return await jobs.cancel(run_id)


@router.post(
    "/flows/{flow}/runs", status_code=status.HTTP_202_ACCEPTED, include_in_schema=False
)
async def run_unknown_flow(flow: str, jobs: Jobs) -> None:
    raise ApiError(
        404,
        f"unknown flow {flow!r}{did_you_mean(flow, jobs.flows)}; flows: "
        f"{', '.join(jobs.flows)}",
    )


@router.get("/processing-status", summary="Counts of runs per status")
async def processing_status(jobs: Jobs) -> ProcessingStatus:
    return await jobs.processing_status()


@router.get("/worker-status", summary="The worker of the project's work pool")
async def worker_status(jobs: Jobs) -> WorkerStatus:
    return await jobs.worker_status()
