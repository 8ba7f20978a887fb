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

import pytest

from tests.conftest import PULPO, Result, run_pulpo
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
        "operations may still be running until this process ends)"
    ]
    negative = run_pulpo(*args, "--timeout", "-1", cwd=trouble, env=server_env)
    assert negative.returncode == 1
    assert error_lines(negative.stderr) == [
        "error: --timeout must be a positive number of seconds, not -1"
    ]


def test_ctrl_c_during_a_blocking_sync_operation_ends_the_command(
    trouble: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    mark = tmp_path / "started"
    process = subprocess.Popen(
        [PULPO, "prefect", "run", "idle_flow", "-p", "seconds=120"]
        + ["-p", f"started={mark}"],
        cwd=trouble,
        env={**os.environ, "NO_COLOR": "1", **server_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the operation never started"
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        stdout, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert elapsed < 20, f"Ctrl-C took {elapsed:.0f} s to end the command"
    assert process.returncode == 130, stderr[-2000:]
    assert stdout == ""
    assert "interrupted; the run is marked crashed" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-3000:]


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
        "ValueError: exploded: x"
    ), result.stderr[-2000:]
