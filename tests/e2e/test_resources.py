"""Resources end to end: the tools fixture run through the CLI.

The providers write every open and close to a journal file (``tools/clients.py``),
so the tests count them and see in which process and when each happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_pulpo
from tests.e2e.conftest import copy_of_fixture

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_fixture("tools", tmp_path_factory.mktemp("tools"))


def journal_env(journal: Path, server_env: dict[str, str]) -> dict[str, str]:
    return {
        **server_env,
        "PULPO_RESOURCE_CLIENT_JOURNAL": str(journal),
        "PULPO_RESOURCE_SESSION_JOURNAL": str(journal),
        "PULPO_RESOURCE_UNREACHABLE_JOURNAL": str(journal),
    }


def entries(journal: Path) -> list[dict]:
    return [json.loads(line) for line in journal.read_text().splitlines()]


def test_a_resource_is_opened_once_per_run_and_closed_after_it(
    tools: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = journal_env(journal, server_env)
    result = run_pulpo("prefect", "run", "ask_flow", cwd=tools, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout)
    # Both operations ran at once, sharing one client with the label from pyproject.
    assert output["ask.join"]["labels"] == ["from-toml", "from-toml"]
    assert output["ask.join"]["greeting"] == "hello from-toml"
    events = entries(journal)
    assert sorted((e["event"], e["resource"]) for e in events) == [
        ("close", "client"),
        ("close", "session"),
        ("open", "client"),
        ("open", "session"),
    ]
    closes = [e["at"] for e in events if e["event"] == "close"]
    opens = [e["at"] for e in events if e["event"] == "open"]
    ended = max(output["ask.left"]["ended"], output["ask.right"]["ended"])
    assert min(closes) >= ended >= max(opens)

    # A second run opens its own, and the environment wins over pyproject.toml.
    env["PULPO_RESOURCE_CLIENT_LABEL"] = "from-env"
    again = run_pulpo("prefect", "run", "ask_flow", cwd=tools, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["ask.join"]["labels"] == ["from-env", "from-env"]
    assert [e["event"] for e in entries(journal)].count("open") == 4


def test_a_resource_is_closed_when_the_run_fails(
    tools: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    result = run_pulpo(
        "prefect", "run", "crash_flow", cwd=tools, env=journal_env(journal, server_env)
    )
    assert result.returncode == 1
    assert "crashed while holding from-toml" in result.stderr
    assert [e["event"] for e in entries(journal)] == ["open", "close"]


def test_a_provider_that_raises_fails_the_operation_naming_the_resource(
    tools: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    result = run_pulpo(
        "prefect", "run", "broken_flow", cwd=tools, env=journal_env(journal, server_env)
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: flow 'broken_flow' failed: operation 'broken.step'")
    assert "resource 'unreachable'" in last and "ConnectionError" in last
    assert "no route to the model server" in last


def test_a_missing_setting_is_one_error_line_naming_the_variable(
    tools: Path, server_env: dict[str, str]
) -> None:
    result = run_pulpo("prefect", "run", "crash_flow", cwd=tools, env=server_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "resource 'client'" in last and "needs setting 'journal'" in last
    assert "PULPO_RESOURCE_CLIENT_JOURNAL" in last


def test_under_the_processes_runner_each_worker_opens_its_own_and_closes_it(
    tools: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = journal_env(journal, server_env)
    result = run_pulpo(
        "prefect", "run", "pool_flow", "-p", f"journal={journal}", cwd=tools, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout)
    events = entries(journal)
    opened = [e["pid"] for e in events if e["event"] == "open"]
    used = {e["pid"] for e in events if e["event"] == "use"}
    # Opened in the worker processes that used it, once per process, never sent
    # across a process boundary.
    assert len(opened) == len(set(opened)) and set(opened) == used
    for work in output.values():
        assert work["client_pid"] == work["pid"] and work["pid"] in opened
    # Closed in the same process when the pool stopped its workers.
    closed = [e["pid"] for e in events if e["event"] == "close"]
    assert sorted(closed) == sorted(opened)


def test_under_the_dask_runner_a_worker_opens_its_own(
    tools: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = journal_env(journal, server_env)
    result = run_pulpo(
        "prefect", "run", "spread_flow", "-p", f"journal={journal}", cwd=tools, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    events = entries(journal)
    opened = [e["pid"] for e in events if e["event"] == "open"]
    assert opened == [json.loads(result.stdout)["spread.use"]]
    assert [e["pid"] for e in events if e["event"] == "use"] == opened


def test_inspect_and_graph_show_which_operations_use_which_resource(
    tools: Path,
) -> None:
    text = run_pulpo("inspect", cwd=tools)
    assert text.returncode == 0, text.stderr
    assert "ask.right: - → Right  [ask_flow]  uses client, session" in text.stdout
    assert (
        "  session (run scope, tools.clients.open_session → Session): ask.right"
        in text.stdout
    )
    data = json.loads(run_pulpo("inspect", "--json", cwd=tools).stdout)
    right = next(op for op in data["operations"] if op["name"] == "ask.right")
    assert right["resources"] == {"client": "client", "session": "session"}
    flow = next(f for f in data["flows"] if f["name"] == "ask_flow")
    assert [p["name"] for p in flow["parameters"]] == ["delay"]
    graph = run_pulpo("graph", cwd=tools).stdout
    assert "resource_session -.->|session| op_ask_right" in graph
