"""`pulpo prefect run` without a server: it starts the project's own, once, and reuses it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, project_processes

pytestmark = pytest.mark.e2e

HEALTHY = {"healthcheck": {"ok": True, "checked": ["skills", "companies"]}}
STARTED = "started the project's Prefect server at"
TEMPORARY = "Starting temporary server"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A copy of the example on free ports, with no Prefect configured by the user."""
    stack = Stack.copy_of_example(tmp_path)
    stack.env.update({"HOME": str(tmp_path / "home"), "PREFECT_HOME": ""})
    yield stack
    stack.pulpo("down")


def test_the_first_run_starts_the_projects_server_and_later_runs_reuse_it(
    stack: Stack,
) -> None:
    address = f"http://127.0.0.1:{stack.prefect_port}"
    first = stack.pulpo("prefect", "run", "healthcheck_flow")
    assert first.returncode == 0, first.stderr[-3000:]
    assert json.loads(first.stdout) == HEALTHY
    notices = [line for line in first.stderr.splitlines() if STARTED in line]
    assert notices == [f"{STARTED} {address} (pulpo down stops it)"]
    assert TEMPORARY not in first.stderr
    prefect = stack.status()["prefect"]
    assert (prefect["state"], prefect["healthy"]) == ("running", True)

    second = stack.pulpo("prefect", "run", "healthcheck_flow")
    assert second.returncode == 0, second.stderr[-3000:]
    assert json.loads(second.stdout) == HEALTHY
    assert TEMPORARY not in second.stderr and STARTED not in second.stderr
    assert address in second.stderr  # the run shows in that server's UI
    assert stack.status()["prefect"]["pid"] == prefect["pid"]

    down = stack.pulpo("down")
    assert down.returncode == 0 and down.stdout.strip() == "stopped prefect"
    assert project_processes(stack.markers()) == []


def test_a_port_held_by_another_program_means_a_temporary_server(
    stack: Stack,
) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", stack.prefect_port))
        other.listen()
        result = stack.pulpo("prefect", "run", "healthcheck_flow")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == HEALTHY
    notices = [line for line in result.stderr.splitlines() if "is taken by" in line]
    assert len(notices) == 1
    assert f"port {stack.prefect_port} of the project's Prefect server" in notices[0]
    assert "temporary Prefect server" in notices[0]
    assert TEMPORARY in result.stderr and STARTED not in result.stderr
    assert stack.status()["prefect"]["state"] == "stopped"
    assert project_processes(stack.markers()) == []
