"""Running in production: schedules, runs you can trust, cleanup of old runs.

One `pulpo up` of tests/fixtures/ticker (tick_flow every 5 s, nap_flow that sleeps,
fall_flow that fails), driven through the CLI and the API. The operations append one
line per start (time and pid) to a log file in the project.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest

from tests.cli.test_errors import assert_user_error
from tests.e2e.conftest import Stack, copy_of_fixture

pytestmark = pytest.mark.e2e


class Ticker(Stack):
    key = ""

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"X-API-Key": self.key},
            timeout=30,
        )

    def starts(self, name: str) -> list[float]:
        """When each run of ``name`` (ticks, naps) started, from the flow's log."""
        path = self.root / f"{name}.log"
        if not path.exists():
            return []
        return [float(line.split()[0]) for line in path.read_text().splitlines()]

    def runs(self, *args: str) -> list[dict[str, Any]]:
        listed = self.pulpo("prefect", "runs", "--json", *args)
        assert listed.returncode == 0, listed.stderr[-2000:]
        return list(json.loads(listed.stdout))

    def failed_run(self) -> dict[str, Any]:
        """Run fall_flow through the worker; the run it left, failed."""
        before = {r["run_id"] for r in self.runs("--flow", "fall_flow")}
        fell = self.pulpo("prefect", "run", "fall_flow", "--deployment")
        assert fell.returncode == 1, fell.stderr[-2000:]
        assert "ended Failed: " in fell.stderr, fell.stderr[-2000:]
        new = [r for r in self.runs("--flow", "fall_flow") if r["run_id"] not in before]
        assert [r["status"] for r in new] == ["failed"], new
        return new[0]

    def inspected_schedule(self, flow: str) -> dict[str, Any]:
        inspected = self.pulpo("inspect", "--json")
        assert inspected.returncode == 0, inspected.stderr[-2000:]
        (entry,) = [
            f for f in json.loads(inspected.stdout)["flows"] if f["name"] == flow
        ]
        return dict(entry["schedule"])


@pytest.fixture(scope="module")
def ticker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ticker]:
    stack = Ticker(copy_of_fixture("ticker", tmp_path_factory.mktemp("ticker")))
    up = stack.pulpo("up")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        stack.key = stack.pulpo("api", "key").stdout.strip()
        yield stack
    finally:
        stack.pulpo("down")


def wait_for(check: Any, timeout: float, step: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return check()


def unfinished(ticker: Ticker, flow: str) -> list[dict[str, Any]]:
    return ticker.runs("--flow", flow, "--status", "pending", "--status", "processing")


# Time for its own waits and for the pause at the end, which later tests need.
@pytest.mark.timeout(600)
def test_a_scheduled_flow_runs_through_the_worker_until_paused(ticker: Ticker) -> None:
    schedule = ticker.inspected_schedule("tick_flow")
    assert schedule["kind"] == "interval" and schedule["value"] == 5
    assert schedule["source"] == "server" and schedule["paused"] is False
    assert schedule["next_run"] is not None
    text = ticker.pulpo("inspect").stdout
    assert "    schedule: every 5 s, next " in text

    # Runs start by themselves and complete through the worker.
    assert wait_for(lambda: len(ticker.starts("ticks")) >= 3, 120), ticker.starts(
        "ticks"
    )
    completed = wait_for(
        lambda: ticker.runs("--flow", "tick_flow", "--status", "completed"), 90
    )
    assert len(completed) >= 2
    assert {r["flow"] for r in completed} == {"tick_flow"}

    with ticker.api() as api:
        flows = {f["name"]: f for f in api.get("/api/v1/flows").json()["items"]}
    assert flows["tick_flow"]["deployed"] is True
    assert flows["tick_flow"]["schedule"]["paused"] is False
    assert flows["tick_flow"]["schedule"]["next_run"] is not None
    assert flows["nap_flow"]["schedule"] is None

    paused = ticker.pulpo("prefect", "schedule", "pause", "tick_flow")
    assert paused.returncode == 0, paused.stderr[-2000:]
    assert "paused the schedule of tick_flow" in paused.stdout
    assert ticker.inspected_schedule("tick_flow")["paused"] is True
    assert "paused" in ticker.pulpo("inspect").stdout
    # Runs the worker had already claimed still run; no new ones start.
    assert wait_for(lambda: not unfinished(ticker, "tick_flow"), 60)
    before = len(ticker.starts("ticks"))
    time.sleep(15)  # three periods
    assert len(ticker.starts("ticks")) == before
    with ticker.api() as api:
        flows = {f["name"]: f for f in api.get("/api/v1/flows").json()["items"]}
    assert flows["tick_flow"]["schedule"]["paused"] is True
    assert flows["tick_flow"]["schedule"]["next_run"] is None

    # Deploying again keeps it paused; resuming starts runs again.
    assert ticker.pulpo("prefect", "deploy", "tick_flow").returncode == 0
    assert ticker.inspected_schedule("tick_flow")["paused"] is True
    resumed = ticker.pulpo("prefect", "schedule", "resume", "tick_flow")
    try:
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert "next run" in resumed.stdout
        assert wait_for(lambda: len(ticker.starts("ticks")) >= before + 2, 90)
    finally:  # a run every 5 s would slow every later test of the module
        paused = ticker.pulpo("prefect", "schedule", "pause", "tick_flow")
    assert paused.returncode == 0, paused.stderr[-2000:]


def test_pausing_a_flow_without_a_schedule_says_how_to_add_one(ticker: Ticker) -> None:
    assert_user_error(
        ticker.pulpo("prefect", "schedule", "pause", "nap_flow"),
        "flow 'nap_flow' has no schedule",
        "[tool.pulpo.flows.nap_flow]",
    )
    assert_user_error(
        ticker.pulpo("prefect", "schedule", "pause", "tick_flw"),
        "unknown flow 'tick_flw'",
        "did you mean 'tick_flow'",
    )


def test_runs_are_listed_and_a_running_one_is_cancelled(ticker: Ticker) -> None:
    with ticker.api() as api:
        submitted = api.post("/api/v1/flows/nap_flow/runs", json={"parameters": {}})
    assert submitted.status_code == 202, submitted.text
    run_id = submitted.json()["run_id"]
    naps = len(ticker.starts("naps"))
    assert wait_for(lambda: len(ticker.starts("naps")) > naps, 120)
    processing = ticker.runs("--status", "processing", "--flow", "nap_flow")
    assert [r["run_id"] for r in processing] == [run_id]
    table = ticker.pulpo("prefect", "runs", "--flow", "nap_flow").stdout
    assert table.splitlines()[0].split() == [
        "RUN",
        "ID",
        "FLOW",
        "STATUS",
        "STATE",
        "CREATED",
        "UPDATED",
    ]
    assert f"{run_id}  nap_flow  processing  Running" in table

    cancelled = ticker.pulpo("prefect", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stderr[-2000:]
    assert wait_for(
        lambda: [r["run_id"] for r in ticker.runs("--status", "cancelled")] == [run_id],
        60,
    )
    assert_user_error(
        ticker.pulpo("prefect", "cancel", run_id), f"run {run_id} already ended"
    )
    assert_user_error(
        ticker.pulpo("prefect", "cancel", "not-a-run"),
        "'not-a-run' is not a run id",
        "pulpo prefect runs",
    )


def test_a_deployment_run_that_outlives_its_timeout_is_cancelled(
    ticker: Ticker,
) -> None:
    started = time.monotonic()
    result = ticker.pulpo(
        "prefect",
        "run",
        "nap_flow",
        "--deployment",
        "-p",
        "seconds=120",
        "--timeout",
        "5",
    )
    assert time.monotonic() - started < 60
    assert_user_error(result, "did not end within --timeout 5 s; cancelled it")
    # It does not go on: nothing of nap_flow is pending or processing any more.
    assert wait_for(lambda: not unfinished(ticker, "nap_flow"), 60), unfinished(
        ticker, "nap_flow"
    )
    latest = ticker.runs("--flow", "nap_flow", "--limit", "1")[0]
    assert latest["status"] == "cancelled"


def test_cleanup_lists_first_and_deletes_only_what_it_listed(ticker: Ticker) -> None:
    first = ticker.failed_run()
    ticks_before = ticker.runs("--flow", "tick_flow", "--status", "completed")
    assert ticks_before

    nothing_old = ticker.pulpo("prefect", "cleanup", "--older-than", "1h")
    assert nothing_old.returncode == 0 and "no runs to delete" in nothing_old.stdout

    asked = ticker.pulpo("prefect", "cleanup", "--older-than", "0s", "-s", "failed")
    assert_user_error(asked, "nothing deleted: not at a terminal to ask", "--yes")
    assert f"{first['run_id']}  fall_flow  failed" in asked.stdout
    assert ticker.runs("--flow", "fall_flow", "--status", "failed") == [first]

    with ticker.api() as api:
        assert (
            api.post(
                "/api/v1/run-cleanup",
                headers={"X-API-Key": "wrong"},
                json={"older_than": "0s"},
            ).status_code
            == 403
        )
        listed = api.post(
            "/api/v1/run-cleanup", json={"older_than": "0s", "statuses": ["failed"]}
        )
        assert listed.status_code == 200, listed.text
        assert listed.json()["deleted"] == []
        ids = [r["run_id"] for r in listed.json()["runs"]]
        assert first["run_id"] in ids
        assert {r["status"] for r in listed.json()["runs"]} == {"failed"}
        # A run that fails after the listing is not deleted with it.
        second = ticker.failed_run()
        deleted = api.post(
            "/api/v1/run-cleanup",
            json={
                "older_than": "0s",
                "statuses": ["failed"],
                "dry_run": False,
                "run_ids": ids,
            },
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deleted"] == ids
        bad = api.post("/api/v1/run-cleanup", json={"older_than": "soon"})
        assert bad.status_code == 422 and "older_than" in bad.text
    left = ticker.runs("--flow", "fall_flow", "--status", "failed")
    assert [r["run_id"] for r in left] == [second["run_id"]], left

    yes = ticker.pulpo(
        "prefect", "cleanup", "--older-than", "0s", "--status", "failed", "--yes"
    )
    assert yes.returncode == 0, yes.stderr[-2000:]
    assert second["run_id"] in yes.stdout and "deleted " in yes.stdout
    assert ticker.runs("--flow", "fall_flow") == []
    assert ticker.runs("--status", "failed") == []
    # Only failed runs went: the completed ticks are still there.
    ticks_after = ticker.runs("--flow", "tick_flow", "--status", "completed")
    assert {r["run_id"] for r in ticks_before} <= {r["run_id"] for r in ticks_after}


def test_a_deployment_run_without_a_live_worker_fails_at_once(ticker: Ticker) -> None:
    assert ticker.pulpo("worker", "stop").returncode == 0
    try:
        started = time.monotonic()
        result = ticker.pulpo("prefect", "run", "nap_flow", "--deployment")
        assert time.monotonic() - started < 30
        assert_user_error(
            result,
            "no worker is polling work pool",
            "`pulpo up` (or `pulpo worker start`)",
        )
        assert unfinished(ticker, "nap_flow") == []  # nothing was submitted
    finally:
        assert ticker.pulpo("worker", "start").returncode == 0


def test_a_run_whose_worker_was_killed_is_marked_crashed_and_retried(
    ticker: Ticker,
) -> None:
    with ticker.api() as api:
        submitted = api.post(
            "/api/v1/flows/nap_flow/runs", json={"parameters": {"seconds": 45}}
        )
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["run_id"]
        naps = len(ticker.starts("naps"))
        assert wait_for(lambda: len(ticker.starts("naps")) > naps, 120)
        nap_pid = int((ticker.root / "naps.log").read_text().split()[-1])

        # The worker dies with the processes it started, as when its machine goes.
        worker = psutil.Process(ticker.status()["worker"]["pid"])
        lost = [worker, *worker.children(recursive=True)]
        assert nap_pid in {p.pid for p in lost}
        for process in lost:
            process.kill()
        killed = time.monotonic()

        def crashed() -> dict[str, Any] | None:
            run = api.get(f"/api/v1/runs/{run_id}").json()
            return run if run["state"] == "Crashed" else None

        run = wait_for(crashed, 60, step=0.2)
        assert run is not None, api.get(f"/api/v1/runs/{run_id}").json()
        assert time.monotonic() - killed < 15
        assert run["status"] == "failed"
        assert f"worker lost (the run's process {nap_pid} is gone)" in run["error"]

        # nap_flow has retry_crashed = 1: one new run with the same parameters.
        def retries() -> list[dict[str, Any]]:
            items = api.get("/api/v1/runs", params={"flow": "nap_flow"}).json()["items"]
            return [r for r in items if r["retry_of"] == run_id]

        (retry,) = wait_for(retries, 30)
        assert retry["parameters"] == {"seconds": 45}
        assert ticker.pulpo("worker", "start").returncode == 0
        assert wait_for(lambda: len(ticker.starts("naps")) > naps + 1, 90)
        cancelled = ticker.pulpo("prefect", "cancel", retry["run_id"])
        assert cancelled.returncode == 0, cancelled.stderr[-2000:]


def test_run_retention_makes_the_api_delete_old_ended_runs_only(
    ticker: Ticker,
) -> None:
    failed = ticker.failed_run()
    with ticker.api() as api:
        napping = api.post(
            # Longer than the test, however slow the machine: it must still be going.
            "/api/v1/flows/nap_flow/runs",
            json={"parameters": {"seconds": 600}},
        ).json()["run_id"]
    ticker.env["PULPO_RUN_RETENTION"] = "8s"
    try:
        restarted = ticker.pulpo("api", "restart")
        assert restarted.returncode == 0, restarted.stderr[-2000:]
        gone = wait_for(
            lambda: (
                failed["run_id"]
                not in {r["run_id"] for r in ticker.runs("--flow", "fall_flow")}
            ),
            60,
        )
        assert gone, ticker.pulpo("logs", "api").stdout[-3000:]
        assert "run_retention: deleted" in ticker.pulpo("logs", "api").stdout
        # A run still going is never deleted, however long ago it was created.
        time.sleep(10)
        assert napping in {r["run_id"] for r in ticker.runs("--flow", "nap_flow")}
    finally:
        del ticker.env["PULPO_RUN_RETENTION"]
        ticker.pulpo("prefect", "cancel", napping)
        ticker.pulpo("api", "restart")
