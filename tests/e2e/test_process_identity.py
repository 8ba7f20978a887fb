"""Services signal only processes proven to be the project's, and status finds them all.

Each test runs the example's database (the quickest service) through the CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import Stack, project_processes

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack.copy_of_example(tmp_path)
    yield stack
    stack.pulpo("down")


@pytest.fixture
def bystander() -> Iterator[psutil.Process]:
    """A live process that is not pulpo's, leading its own session as services do."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    yield psutil.Process(process.pid)
    process.kill()
    process.wait()


def write_record(stack: Stack, service: str, record: dict[str, object]) -> None:
    services = stack.root / "run_cache" / "services"
    services.mkdir(parents=True, exist_ok=True)
    (services / f"{service}.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "record",
    [
        # A record of a supervisor that died; its pid now belongs to another program.
        lambda pid: {
            "pid": pid,
            "created": time.time() - 3600,
            "command": [sys.executable, "-m", "pulpo.services.supervise"],
            "started_at": time.time() - 3600,
        },
        # A record written by an older pulpo (no creation time, no command).
        lambda pid: {"pid": pid, "started": 1, "started_at": time.time()},
    ],
    ids=["reused-pid", "old-record"],
)
def test_a_reused_pid_in_a_record_is_never_signalled(
    stack: Stack, bystander: psutil.Process, record
) -> None:  # noqa: ANN001
    write_record(stack, "db", record(bystander.pid))

    assert stack.status()["db"]["state"] in ("crashed", "stopped")
    started = stack.pulpo("db", "start")
    assert started.returncode == 0, started.stderr
    assert stack.status()["db"]["state"] == "running"
    write_record(stack, "worker", record(bystander.pid))
    down = stack.pulpo("down")

    assert down.returncode == 0, down.stderr
    assert bystander.is_running() and bystander.status() != psutil.STATUS_ZOMBIE
    assert project_processes(stack.markers()) == []


def supervisor_and_server(stack: Stack) -> tuple[psutil.Process, psutil.Process]:
    server = psutil.Process(stack.status()["db"]["pid"])  # status shows the server
    supervisor = server.parent()
    assert supervisor is not None and "pulpo.services.supervise" in supervisor.cmdline()
    return supervisor, server


def ended(process: psutil.Process) -> bool:
    """It exited: gone, or a zombie that its new parent (PID 1) has not reaped yet."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_server_whose_supervisor_was_killed_is_reported_and_stopped(
    stack: Stack,
) -> None:
    assert stack.pulpo("db", "start").returncode == 0
    supervisor, server = supervisor_and_server(stack)
    supervisor.kill()
    supervisor.wait(10)

    status = stack.pulpo("status")
    row = stack.status()["db"]

    assert status.returncode == 1
    assert row["state"] == "orphaned" and row["pid"] == server.pid
    assert f"supervisor gone, pid {server.pid} answers" in status.stdout
    assert stack.pulpo("db", "start").returncode == 0  # replaces the orphan
    assert ended(server)
    assert stack.status()["db"]["state"] == "running"
    assert stack.pulpo("down").returncode == 0
    assert project_processes(stack.markers()) == []


def test_processes_are_found_and_stopped_after_run_cache_is_deleted(
    stack: Stack,
) -> None:
    assert stack.pulpo("db", "start").returncode == 0
    supervisor, server = supervisor_and_server(stack)
    shutil.rmtree(stack.root / "run_cache")

    row = stack.status()["db"]
    down = stack.pulpo("down")

    assert row["state"] == "orphaned" and row["pid"] in (supervisor.pid, server.pid)
    assert down.returncode == 0 and "db" in down.stdout
    psutil.wait_procs([supervisor, server], timeout=10)
    assert not supervisor.is_running() and not server.is_running()
    assert project_processes(stack.markers()) == []


def test_status_exit_code_tells_scripts_whether_everything_runs(stack: Stack) -> None:
    assert stack.pulpo("status").returncode == 3  # all stopped
    assert stack.pulpo("db", "start").returncode == 0
    assert stack.pulpo("status").returncode == 3  # db runs, the rest is stopped
    supervisor, server = supervisor_and_server(stack)
    server.kill()
    psutil.wait_procs([supervisor, server], timeout=10)

    assert stack.status()["db"]["state"] == "crashed"
    assert stack.pulpo("status").returncode == 1
