"""Run and operation metrics of ``GET /metrics``, read from Prefect when scraped.

Flow runs end in worker processes, so the API counts them from what Prefect recorded:
each scrape reads the flow runs and task runs that ended since the previous one and
adds them to counters and histograms of this process (docs/decisions/0025). Counting
starts when the API starts, as any process's counters do; a run is counted once, also
when it turns up late (the window reaches back :data:`OVERLAP` before the last read).
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any
from uuid import UUID

from prometheus_client import CollectorRegistry, Counter, Histogram

from pulpo.api.jobs import JobService
from pulpo.api.runs import run_view

# A run's end time is its final state's timestamp, taken by the process that ran it
# shortly before Prefect stores it: read a little further back than the last scrape.
OVERLAP = datetime.timedelta(seconds=60)
# Seconds, from a quick operation to an hour-long flow run.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class RunTally:
    """Counters and histograms of ended runs and operations, kept up to date from
    Prefect by :meth:`update`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.completed = Counter(
            "pulpo_runs_completed",
            "Flow runs of the project's deployments that completed, by flow.",
            ["flow"],
            registry=registry,
        )
        self.failed = Counter(
            "pulpo_runs_failed",
            "Flow runs that failed or crashed, by flow and error code.",
            ["flow", "code"],
            registry=registry,
        )
        self.cancelled = Counter(
            "pulpo_runs_cancelled",
            "Flow runs that were cancelled, by flow.",
            ["flow"],
            registry=registry,
        )
        self.run_seconds = Histogram(
            "pulpo_run_duration_seconds",
            "Time from a flow run's start to its end, by flow and status.",
            ["flow", "status"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.operation_seconds = Histogram(
            "pulpo_operation_duration_seconds",
            "Run time of an operation's call (its task run, retries included) that "
            "completed, cached results left out, by operation.",
            ["operation"],
            buckets=BUCKETS,
            registry=registry,
        )
        self.operation_failures = Counter(
            "pulpo_operation_failures",
            "Operation calls that failed after their retries, by operation.",
            ["operation"],
            registry=registry,
        )
        self._read_until = datetime.datetime.now(datetime.UTC)
        self._seen: dict[UUID, datetime.datetime] = {}
        self._lock = asyncio.Lock()

    async def update(self, jobs: JobService) -> None:
        """Count what ended since the last update (one at a time)."""
        async with self._lock:
            now = datetime.datetime.now(datetime.UTC)
            after = self._read_until - OVERLAP
            flow_runs, task_runs = await jobs.ended_since(after)
            for flow_run in flow_runs:
                if self._new(flow_run):
                    self._count_run(jobs.flow_of(flow_run), flow_run)
            for task_run in task_runs:
                if self._new(task_run):
                    self._count_operation(task_run)
            self._read_until = now
            self._seen = {
                key: ended for key, ended in self._seen.items() if ended >= after
            }

    def _new(self, run: Any) -> bool:
        if run.id in self._seen or run.end_time is None:
            return False
        self._seen[run.id] = run.end_time
        return True

    def _count_run(self, flow: str, flow_run: Any) -> None:
        view = run_view(flow_run, flow)
        if view.status == "completed":
            self.completed.labels(flow).inc()
        elif view.status == "failed":
            self.failed.labels(flow, view.error_code or "failed").inc()
        elif view.status == "cancelled":
            self.cancelled.labels(flow).inc()
        else:
            return
        if flow_run.start_time is not None:
            seconds = (flow_run.end_time - flow_run.start_time).total_seconds()
            self.run_seconds.labels(flow, view.status).observe(max(seconds, 0.0))

    def _count_operation(self, task_run: Any) -> None:
        state = task_run.state
        kind = state.type.value if state is not None else None
        # Task run names are "<task name>-<key>"; task names are operation names.
        operation = task_run.name.rpartition("-")[0] or task_run.name
        if kind in ("FAILED", "CRASHED"):
            self.operation_failures.labels(operation).inc()
        elif kind == "COMPLETED" and state.name != "Cached":
            seconds = task_run.total_run_time.total_seconds()
            self.operation_seconds.labels(operation).observe(seconds)
