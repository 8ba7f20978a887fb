"""Several workers: `workers = 2` with `worker_limit = 1` run two flows at once.

The operation writes when it started and ended and in which process; two runs that
one worker with a limit of one would run one after the other must overlap.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

NAPS = """
import json
import os
import time
from pathlib import Path

from pulpo import operation


@operation(name="logged_nap")
def logged_nap(log: str, seconds: float = 3.0) -> int:
    started = time.time()
    time.sleep(seconds)
    line = {"started": started, "ended": time.time(), "pid": os.getpid()}
    with Path(log).open("a") as file:
        file.write(json.dumps(line) + "\\n")
    return os.getpid()
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.copy_of_example(tmp_path_factory.mktemp("workers"))
    (stack.root / "jobhunter" / "naps.py").write_text(textwrap.dedent(NAPS))
    config = stack.root / "pyproject.toml"
    config.write_text(
        config.read_text().replace(
            'modules = ["jobhunter.operations"]',
            'modules = ["jobhunter.operations", "jobhunter.naps"]\n'
            "workers = 2\nworker_limit = 1",
        )
    )
    # The user's own Prefect settings win where pulpo need not own them.
    stack.env["PREFECT_WORKER_QUERY_SECONDS"] = "0.5"
    yield stack
    stack.pulpo("down")


def test_two_workers_with_a_limit_of_one_run_two_flows_at_once(
    stack: Stack, tmp_path: Path
) -> None:
    up = stack.pulpo("up")
    assert up.returncode == 0, up.stderr[-3000:]
    rows = stack.status()
    assert [(n, r["state"], r["healthy"]) for n, r in rows.items()] == [
        ("db", "running", True),
        ("prefect", "running", True),
        ("worker", "running", True),
        ("worker-2", "running", True),
        ("api", "running", True),
        ("ui", "running", True),
    ]
    assert rows["worker-2"]["address"].endswith(", 1 at once")
    log = tmp_path / "naps"
    key = stack.pulpo("api", "key").stdout.strip()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.api_port}",
        headers={"X-API-Key": key},
        timeout=60,
    ) as api:
        runs = [
            api.post(
                "/api/v1/flows/logged_nap_flow/runs",
                json={"parameters": {"log": str(log), "seconds": 10}},
            ).json()["run_id"]
            for _ in range(2)
        ]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            states = [api.get(f"/api/v1/runs/{run}").json()["status"] for run in runs]
            if all(state in ("completed", "failed") for state in states):
                break
            time.sleep(1)
    assert states == ["completed", "completed"], (
        stack.pulpo("logs", "worker").stdout + stack.pulpo("logs", "worker-2").stdout
    )
    naps = [json.loads(line) for line in log.read_text().splitlines()]
    overlap = min(n["ended"] for n in naps) - max(n["started"] for n in naps)
    # Serial runs (one worker, limit one) give overlap <= 0; 10 s naps leave room
    # for a loaded machine starting the second run process late.
    assert overlap > 1

    worker = psutil.Process(rows["worker-2"]["pid"]).environ()
    assert worker["PREFECT_WORKER_QUERY_SECONDS"] == "0.5"
    assert worker["PREFECT_API_URL"] == f"http://127.0.0.1:{stack.prefect_port}/api"

    stopped = stack.pulpo("worker", "stop")
    assert stopped.returncode == 0, stopped.stderr
    rows = stack.status()
    assert (rows["worker"]["state"], rows["worker-2"]["state"]) == (
        "stopped",
        "stopped",
    )
