"""Observability end to end: JSON log lines from a CLI run, the worker's flow runs and
the API (with the request id it returns), run metrics that move after real runs, and
one trace from an API request to the operations of the run it submitted (spans
exported over OTLP/HTTP by each process to a receiver in the test)."""

from __future__ import annotations

import json
import re
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import MakeProject, run_pulpo
from tests.e2e.conftest import Stack
from tests.support.otlp import OtlpCollector, ReceivedSpan

pytestmark = pytest.mark.e2e

OPS = """
import logging

from prefect.logging import get_run_logger
from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Raw(BaseModel):
    n: int


@datamodel
class Done(BaseModel):
    n: int


@operation(name="work.make", outputs=Raw)
async def make(n: int = 1) -> Raw:
    get_run_logger().info("making %s", n)
    return Raw(n=n)


@operation(name="work.finish", inputs=Raw, outputs=Done)
def finish(raw: Raw) -> Done:
    # A plain logger in a sync operation (a worker thread): ids from the run context.
    logging.getLogger("app.ops").warning("finishing %s", raw.n)
    if raw.n < 0:
        raise ValueError("negative")
    return Done(n=raw.n + 1)
"""

FIELDS = ("timestamp", "level", "service", "logger", "message")
# What is not a log line: the marks of pulpo's service logs, and what Prefect's worker
# command prints on its console when it starts and stops.
NOT_LOGGED = re.compile(r"--- pulpo: .*|Worker '.*' (started|stopped)!|Received SIG.*")


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as JSON (a line that is not fails the test)."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or NOT_LOGGED.fullmatch(line):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
        assert all(field in entry for field in FIELDS), entry
        entries.append(entry)
    return entries


def the_line(entries: list[dict[str, Any]], message: str) -> dict[str, Any]:
    found = [e for e in entries if e["message"] == message]
    assert len(found) == 1, (message, entries)
    return found[0]


def test_a_cli_run_logs_json_lines_with_the_run_and_operation_ids(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=OPS)
    result = run_pulpo(
        "prefect",
        "run",
        "work_flow",
        "--param",
        "n=3",
        cwd=root,
        env={**server_env, "PULPO_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["work.finish"] == {"n": 4}
    entries = json_lines(result.stderr)
    making = the_line(entries, "making 3")
    finishing = the_line(entries, "finishing 3")
    assert (making["level"], finishing["level"]) == ("INFO", "WARNING")
    assert making["service"] == finishing["service"] == "cli"
    assert making["flow"] == finishing["flow"] == "work_flow"
    assert making["flow_run_id"] == finishing["flow_run_id"]
    assert (making["operation"], finishing["operation"]) == ("work.make", "work.finish")
    assert making["task_run_id"] != finishing["task_run_id"]
    assert making["timestamp"].endswith("Z")


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as collector:
        yield collector


def tracing_env(collector: OtlpCollector) -> dict[str, str]:
    # Export every fifth of a second rather than every five seconds.
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, collector: OtlpCollector
) -> Iterator[Stack]:
    """A project with ``log_format = "json"`` brought up with `pulpo up`, tracing to
    ``collector``."""
    root = tmp_path_factory.mktemp("observe") / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "ops.py").write_text(textwrap.dedent(OPS))
    (root / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "0"\n\n[tool.pulpo]\n'
        'modules = ["app.ops"]\nlog_format = "json"\n'
    )
    stack = Stack(root)
    stack.env.update(tracing_env(collector))
    try:
        up = stack.pulpo("up")
        assert up.returncode == 0, up.stderr[-3000:]
        yield stack
    finally:
        stack.pulpo("down")


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    key = stack.pulpo("api", "key").stdout.strip()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.api_port}",
        headers={"X-API-Key": key},
        timeout=30,
    ) as client:
        yield client


def run_to_end(client: httpx.Client, n: int, request_id: str | None = None) -> str:
    headers = {"X-Request-ID": request_id} if request_id else {}
    response = client.post(
        "/api/v1/flows/work_flow/runs",
        json={"parameters": {"n": n}},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    run_id = str(response.json()["run_id"])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run_id
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not end: {run}")


def test_worker_and_api_log_json_lines_with_run_and_request_ids(
    stack: Stack, client: httpx.Client
) -> None:
    run_id = run_to_end(client, 5, request_id="obs-request-1")
    worker = json_lines(stack.pulpo("logs", "worker", "-n", "400").stdout)
    making = the_line(worker, "making 5")
    finishing = the_line(worker, "finishing 5")
    assert making["service"] == finishing["service"] == "worker"
    assert making["flow_run_id"] == finishing["flow_run_id"] == run_id
    assert (making["operation"], finishing["operation"]) == ("work.make", "work.finish")
    assert making["task_run_id"] and finishing["task_run_id"]

    answer = client.get("/health/live")
    given = answer.headers["x-request-id"]
    api = json_lines(stack.pulpo("logs", "api", "-n", "400").stdout)
    assert all(e["service"] == "api" for e in api)
    submitted = [e for e in api if e.get("request_id") == "obs-request-1"]
    assert [(e["method"], e["route"], e["status"]) for e in submitted] == [
        ("POST", "/api/v1/flows/work_flow/runs", 202)
    ]
    live = [e for e in api if e.get("request_id") == given]
    assert [(e["path"], e["status"]) for e in live] == [("/health/live", 200)]
    assert "GET /health/live HTTP/1.1" in live[0]["message"]

    # The UI server, which does not load Prefect, logs JSON lines too.
    ui = json_lines(stack.pulpo("logs", "ui", "-n", "400").stdout)
    assert ui and all(e["service"] == "ui" for e in ui)
    assert any(e["logger"] == "uvicorn.error" for e in ui)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_run_and_operation_metrics_move_after_real_runs(
    stack: Stack, client: httpx.Client
) -> None:
    flow = (("flow", "work_flow"),)
    completed = ("pulpo_runs_completed_total", flow)
    failed = ("pulpo_runs_failed_total", (("code", "operation_failed"), *flow))
    made = ("pulpo_operation_duration_seconds_count", (("operation", "work.make"),))
    finished = (
        "pulpo_operation_duration_seconds_count",
        (("operation", "work.finish"),),
    )
    broke = ("pulpo_operation_failures_total", (("operation", "work.finish"),))
    run_seconds = (
        "pulpo_run_duration_seconds_count",
        (("flow", "work_flow"), ("status", "completed")),
    )
    before = samples(client.get("/metrics").text)
    moves = {completed: 1, failed: 1, made: 2, finished: 1, broke: 1, run_seconds: 1}
    expected = {key: before.get(key, 0) + step for key, step in moves.items()}

    run_to_end(client, 7)
    run_to_end(client, -1)  # work.finish raises
    # Prefect records task runs' final states from events, a moment after the flow
    # run ends: a scrape counts what has turned up by then (decision 0025).
    deadline = time.monotonic() + 30
    while True:
        after = samples(client.get("/metrics").text)
        arrived = all(after.get(key, 0) >= value for key, value in expected.items())
        if arrived or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    again = samples(client.get("/metrics").text)  # nothing counted twice

    for found in (after, again):
        assert {key: found.get(key) for key in expected} == expected
    assert found[("pulpo_runs_pending", ())] == 0


def one_trace(spans: list[ReceivedSpan], run_id: str) -> dict[str, Any] | None:
    """The request span, flow-run span and operation spans of ``run_id``, once all
    arrived."""
    flows = [s for s in spans if s.attributes.get("prefect.run.id") == run_id]
    if not flows:
        return None
    flow = flows[0]
    operations = [
        s
        for s in spans
        if s.parent_id == flow.span_id
        and s.attributes.get("prefect.run.type") == "task"
    ]
    by_id = {s.span_id: s for s in spans}
    ancestors = []  # the request's span, and any FastAPI opens inside it
    while (ancestors[-1] if ancestors else flow).parent_id in by_id:
        ancestors.append(by_id[(ancestors[-1] if ancestors else flow).parent_id])
    if len(operations) < 2 or not ancestors or ancestors[-1].parent_id:
        return None
    return {"flow": flow, "operations": operations, "request": ancestors[-1]}


def test_an_api_request_and_the_run_it_submits_share_one_trace(
    stack: Stack, client: httpx.Client, collector: OtlpCollector
) -> None:
    run_id = run_to_end(client, 9, request_id="traced-request-1")
    spans = collector.wait_for(lambda spans: one_trace(spans, run_id) is not None)
    found = one_trace(spans, run_id)
    assert found is not None
    request, flow = found["request"], found["flow"]
    assert request.name == "POST /api/v1/flows/work_flow/runs"  # route template
    assert request.attributes["pulpo.request_id"] == "traced-request-1"
    assert request.attributes["http.response.status_code"] == 202
    assert request.service == "pulpo-api"
    assert flow.service == "pulpo-worker"  # the worker's flow-run process
    names = sorted(s.name.rpartition("-")[0] for s in found["operations"])
    assert names == ["work.finish", "work.make"]
    traces = {
        request.trace_id,
        flow.trace_id,
        *(s.trace_id for s in found["operations"]),
    }
    assert traces == {request.trace_id}
    # The run's log lines name the trace too.
    worker = json_lines(stack.pulpo("logs", "worker", "-n", "400").stdout)
    assert the_line(worker, "making 9")["trace_id"] == request.trace_id
    api = json_lines(stack.pulpo("logs", "api", "-n", "400").stdout)
    submitted = [e for e in api if e.get("request_id") == "traced-request-1"]
    assert [e["trace_id"] for e in submitted] == [request.trace_id]


def test_a_cli_run_traces_its_flow_run_and_operations(
    make_project: MakeProject, server_env: dict[str, str], collector: OtlpCollector
) -> None:
    root = make_project(ops=OPS)
    result = run_pulpo(
        "prefect",
        "run",
        "work_flow",
        "--param",
        "n=11",
        cwd=root,
        env={**server_env, **tracing_env(collector)},
    )
    assert result.returncode == 0, result.stderr
    runs = [
        s
        for s in collector.spans
        if s.attributes.get("prefect.run.type") == "flow"
        and s.attributes.get("prefect.run.parameter.n") is not None
        and s.service == "pulpo-cli"
    ]
    assert runs, collector.spans  # exported before the command exited
    flow = runs[-1]
    operations = [s for s in collector.spans if s.parent_id == flow.span_id]
    assert sorted(s.name.rpartition("-")[0] for s in operations) == [
        "work.finish",
        "work.make",
    ]
    assert {s.trace_id for s in operations} == {flow.trace_id}
