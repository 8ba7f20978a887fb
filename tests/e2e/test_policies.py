"""Flow timeouts, failure and completion hooks, and error codes, through the CLI.

The ``policies`` fixture's functions append ``<event> <time>`` lines to a log file
named by a flow parameter, so these tests see from inside the user's code what ran,
when and how often.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import Result, run_pulpo
from tests.e2e.conftest import copy_of_fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_fixture("policies", tmp_path_factory.mktemp("policies"))


def run(root: Path, env: dict[str, str], flow: str, *params: str) -> Result:
    args = [arg for param in params for arg in ("-p", param)]
    return run_pulpo("prefect", "run", flow, *args, cwd=root, env=env)


def events(log: Path) -> list[tuple[str, float]]:
    """``(event, time)`` per line the fixture's functions wrote."""
    if not log.exists():
        return []
    lines = [line.rsplit(" ", 1) for line in log.read_text().splitlines()]
    return [(event, float(at)) for event, at in lines]


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: "), result.stderr[-3000:]
    return lines[-1]


@pytest.mark.parametrize(("flow", "timeout"), [("slow_flow", 2), ("pooled_flow", 15)])
def test_a_flow_timeout_cuts_off_a_running_operation_and_starts_no_later_one(
    policies: Path, server_env: dict[str, str], tmp_path: Path, flow: str, timeout: int
) -> None:
    """slow_flow runs on threads, pooled_flow on the warm process pool; each has its
    ``timeout`` in its [tool.pulpo.flows.<flow>] table."""
    log = tmp_path / "log"
    seconds = timeout + 12
    result = run(policies, server_env, flow, f"log={log}", f"seconds={seconds}")
    ended = time.time()
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stdout == ""
    assert error_line(result) == (
        f"error: flow {flow!r} timed out after {timeout} s: its running operations "
        f"were cancelled and no further ones started (a synchronous function may run "
        f"on until this process ends) (code: timeout)"
    )
    assert "Traceback" not in result.stderr
    ((event, started),) = events(log)
    assert event == "sleep-start"
    assert ended - started < seconds - 4, "the command waited for the sleeping function"
    time.sleep(seconds - (time.time() - started) + 1)  # past the end of the sleep
    assert [event for event, _ in events(log)] == ["sleep-start"]  # never woke


def test_hooks_run_once_after_the_last_attempt_and_on_completion(
    policies: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    failed = run(policies, server_env, "saga_flow", f"log={log}")
    assert failed.returncode == 1
    assert error_line(failed) == (
        "error: flow 'saga_flow' failed: operation 'saga.dimensions' failed: "
        "RuntimeError: the dimension store is down (code: operation_failed)"
    )
    seen = events(log)
    assert [event for event, _ in seen] == [
        "create",
        "done saga.create octopus",
        "attempt",
        "attempt",
        "attempt",
        "undo saga.dimensions octopus operation_failed RuntimeError",
    ]
    assert seen[-1][1] >= max(at for event, at in seen if event == "attempt")

    log.unlink()
    completed = run(policies, server_env, "saga_flow", f"log={log}", "fail=false")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert [event for event, _ in events(log)] == [
        "create",
        "done saga.create octopus",
        "attempt",
        "done saga.dimensions octopus",
    ]


def test_hooks_run_once_on_the_processes_runner(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    root = copy_of_fixture("policies", tmp_path)
    config = root / "pyproject.toml"
    config.write_text(
        config.read_text()
        + '\n[tool.pulpo.flows.saga_flow]\ntask_runner = "processes"\n'
    )
    log = tmp_path / "log"
    failed = run(root, server_env, "saga_flow", f"log={log}")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "(code: operation_failed)" in error_line(failed)
    ran = [event for event, _ in events(log)]
    assert ran.count("attempt") == 3
    assert ran.count("undo saga.dimensions octopus operation_failed RuntimeError") == 1
    assert ran.count("done saga.create octopus") == 1


def test_each_kind_of_failure_ends_the_error_line_with_its_code(
    policies: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    upstream = run(
        policies, server_env, "digest_flow", f"log={tmp_path / 'log'}", "broken=true"
    )
    assert upstream.returncode == 1
    assert error_line(upstream) == (
        "error: flow 'digest_flow' failed: operation 'saga.create', which it runs for "
        "its inputs, failed: ConnectionError: the topic store refused the connection "
        "(code: upstream_failed)"
    )
    shape = run(policies, server_env, "shape_flow")
    assert shape.returncode == 1
    line = error_line(shape)
    assert "operation 'shape.wrong' returned data that does not fit Digest" in line
    assert line.endswith("(code: validation)")


def test_inspect_shows_hooks_and_flow_timeouts(policies: Path) -> None:
    shown = run_pulpo("inspect", cwd=policies)
    assert shown.returncode == 0, shown.stderr
    assert (
        "  saga.dimensions: Created → Finished  [saga_flow]  retries 2 after 0, 0 s, "
        "on_failure undo_topic, on_completion topic_done"
    ) in shown.stdout.splitlines()
    assert (
        "  slow_flow (2 operations, timeout 2 s): log: str, seconds: float = 30.0"
        in (shown.stdout.splitlines())
    )
    data = json.loads(run_pulpo("inspect", "--json", cwd=policies).stdout)
    (dimensions,) = [op for op in data["operations"] if op["name"] == "saga.dimensions"]
    assert dimensions["policy"]["on_failure"] == "policies.steps.undo_topic"
    assert {f["name"]: f["timeout"] for f in data["flows"]}["pooled_flow"] == 15
