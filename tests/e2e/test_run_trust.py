"""Runs of misbehaving user code end promptly with one clear line and clean stdout.

The ``trouble`` fixture prints, blocks past its timeout, sleeps and raises; every run
goes through the CLI against the session's Prefect server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import PULPO, Result, interruptible, run_pulpo
from tests.e2e.conftest import copy_of_fixture

pytestmark = pytest.mark.e2e

TROUBLE = Path(__file__).resolve().parents[1] / "fixtures" / "trouble"


@pytest.fixture(scope="module")
def trouble(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_fixture("trouble", tmp_path_factory.mktemp("trouble"))


def run(trouble: Path, env: dict[str, str], flow: str, *params: str) -> Result:
    args = [arg for param in params for arg in ("-p", param)]
    return run_pulpo("prefect", "run", flow, *args, cwd=trouble, env=env)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_print_in_an_operation_goes_to_stderr_and_stdout_stays_json(
    trouble: Path, server_env: dict[str, str]
) -> None:
    result = run(trouble, server_env, "chatty_flow", "text=hi")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {"chatty.speak": {"text": "hi", "limit": 1}}
    assert "speaking hi" in result.stderr


def test_null_and_booleans_are_not_turned_into_text_or_numbers(
    trouble: Path, server_env: dict[str, str]
) -> None:
    result = run(trouble, server_env, "chatty_flow", "text=null")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["chatty.speak"]["text"] is None
    wrong = run(trouble, server_env, "chatty_flow", "text=x", "limit=true")
    assert wrong.returncode == 1
    assert error_lines(wrong.stderr) == [
        "error: invalid value 'true' for parameter 'limit' of flow 'chatty_flow': "
        "Input should be a valid integer"
    ]


def test_a_timed_out_sync_operation_does_not_keep_the_command_alive(
    trouble: Path, server_env: dict[str, str]
) -> None:
    started = time.monotonic()
    result = run(trouble, server_env, "stuck_flow", "seconds=60")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 40, f"waited {elapsed:.0f} s for the function to return"
    (line,) = error_lines(result.stderr)
    assert "operation 'stuck.wait' failed: TaskRunTimeoutError" in line
    assert "may still be running" in line
    assert "Traceback" not in result.stderr.split("error: ")[-1]


def test_timeout_bounds_a_local_run_and_must_be_positive(
    trouble: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    args = ("prefect", "run", "idle_flow", "-p", "seconds=60", "-p", f"started={mark}")
    started = time.monotonic()
    result = run_pulpo(*args, "--timeout", "3", cwd=trouble, env=server_env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert mark.exists()
    assert elapsed < 40, f"--timeout 3 took {elapsed:.0f} s"
    assert error_lines(result.stderr) == [
        "error: flow 'idle_flow' did not finish within --timeout 3 s (synchronous "
        "operations may still be running until this process ends) (code: timeout)"
    ]
    negative = run_pulpo(*args, "--timeout", "-1", cwd=trouble, env=server_env)
    assert negative.returncode == 1
    assert error_lines(negative.stderr) == [
        "error: --timeout must be a positive number of seconds, not -1"
    ]


def start_blocking_run(
    trouble: Path, env: dict[str, str], flow: str, mark: Path, *extra: str
) -> tuple[subprocess.Popen[str], int]:
    """Start ``flow`` in its own session; return it once the operation runs, and the
    pid of the process the operation runs in."""
    process = subprocess.Popen(
        [PULPO, "prefect", "run", flow, "-p", "seconds=120", "-p", f"started={mark}"]
        + list(extra),
        cwd=trouble,
        env={**os.environ, "NO_COLOR": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while not (mark.exists() and mark.read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(
                f"the operation never started: {process.communicate()}"
            )
        time.sleep(0.2)
    return process, int(mark.read_text())


def finish(process: subprocess.Popen[str], within: float) -> tuple[str, str, float]:
    started = time.monotonic()
    try:
        stdout, stderr = process.communicate(timeout=within + 40)
    except subprocess.TimeoutExpired as expired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        said = expired.stderr or b""
        text = said.decode(errors="replace") if isinstance(said, bytes) else said
        raise AssertionError(
            f"the command had not ended {within + 40:.0f} s later; its last words: "
            f"{text[-3000:]}"
        ) from None
    return stdout, stderr, time.monotonic() - started


def gone_soon(pid: int) -> bool:
    """The operation's process ended (a worker must not stay occupied)."""
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.parametrize(
    "flow", ["idle_flow", "busy_flow"], ids=["threads", "processes"]
)
@pytest.mark.parametrize("target", ["command", "terminal"])
def test_ctrl_c_during_a_blocking_sync_operation_ends_the_command(
    trouble: Path, server_env: dict[str, str], tmp_path: Path, flow: str, target: str
) -> None:
    """``terminal``: Ctrl-C reaches every process of the foreground group."""
    process, operation_pid = start_blocking_run(
        trouble, server_env, flow, tmp_path / "started"
    )
    if target == "terminal":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    stdout, stderr, elapsed = finish(process, within=20)
    assert elapsed < 20, f"Ctrl-C took {elapsed:.0f} s to end the command"
    assert process.returncode == 130, stderr[-2000:]
    assert stdout == ""
    assert "interrupted; the run is marked crashed" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert gone_soon(operation_pid), "the operation's worker process is still running"
    assert stderr.rstrip().splitlines()[-1].startswith("interrupted"), stderr[-500:]


def test_a_timeout_stops_the_worker_process_of_a_blocking_operation(
    trouble: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    # 10 s, not less: on a loaded 2-core machine the pool's first worker can take
    # more than 3 s to start the operation, and the run then times out before it.
    process, worker = start_blocking_run(
        trouble, server_env, "busy_flow", tmp_path / "started", "--timeout", "10"
    )
    stdout, stderr, elapsed = finish(process, within=20)
    assert elapsed < 20, f"the run went on {elapsed:.0f} s after it started"
    assert process.returncode == 1
    assert error_lines(stderr) == [
        "error: flow 'busy_flow' did not finish within --timeout 10 s (synchronous "
        "operations may still be running until this process ends) (code: timeout)"
    ]
    assert stderr.rstrip().splitlines()[-1].startswith("error: "), stderr[-500:]
    assert gone_soon(worker), "the worker process still runs the operation"


def test_a_failing_operation_shows_its_traceback_once_and_ends_with_one_line(
    trouble: Path, server_env: dict[str, str]
) -> None:
    result = run(trouble, server_env, "broken_flow", "reason=x")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("Traceback") == 1, result.stderr
    assert result.stderr.count('raise ValueError(f"exploded: {reason}")') == 1
    last = [line for line in result.stderr.splitlines() if line.strip()][-1]
    assert last == (
        "error: flow 'broken_flow' failed: operation 'broken.explode' failed: "
        "ValueError: exploded: x (code: operation_failed)"
    ), result.stderr[-2000:]


def test_a_flow_without_documents_runs_while_the_configured_database_is_down(
    trouble: Path, server_env: dict[str, str]
) -> None:
    down = {**server_env, "MONGODB_URL": "mongodb://127.0.0.1:9"}  # nothing listens
    result = run(trouble, down, "chatty_flow", "text=hi")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["chatty.speak"]["text"] == "hi"
