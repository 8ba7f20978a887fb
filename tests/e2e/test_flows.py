"""Flows v2 end to end: the lab fixture run through the CLI against a Prefect server.

Timing claims are checked with timestamps the operations write themselves
(``lab/trace.py``), with margins that fail if the operations ran one after another.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import mypy, run_pulpo
from tests.e2e.conftest import copy_of_fixture

pytestmark = pytest.mark.e2e

LAB = Path(__file__).resolve().parents[1] / "fixtures" / "lab"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of_fixture("lab", tmp_path_factory.mktemp("lab"))


def run(lab: Path, env: dict[str, str], flow: str, *params: str) -> dict:
    args = [arg for param in params for arg in ("-p", param)]
    result = run_pulpo("prefect", "run", flow, *args, cwd=lab, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def trace(log: Path) -> dict[str, dict]:
    """What each operation logged, by name (the last line of each name)."""
    if not log.exists():
        return {}
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    return {line["name"]: line for line in lines}


def overlap(a: dict, b: dict) -> float:
    return min(a["ended"], b["ended"]) - max(a["started"], b["started"])


def test_sibling_and_nested_namespaces_run_at_the_same_time_in_one_flow_run(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "field_flow", f"log={log}", "delay=1.5")
    assert sorted(result) == [
        "field.combine",
        "field.east.deep.probe",
        "field.north.probe",
        "field.south.probe",
    ]
    assert result["field.combine"] == {"sites": ["north", "south"], "total": 3}
    ran = trace(log)
    # Each probe takes 1.5 s; run one after another they could not overlap at all.
    assert overlap(ran["north"], ran["south"]) > 1.0
    assert overlap(ran["north"], ran["east"]) > 1.0
    assert ran["combine"]["started"] >= max(
        ran["north"]["ended"], ran["south"]["ended"]
    )
    assert len({line["pid"] for line in ran.values()}) == 1  # threads: one process


def test_every_namespace_keeps_a_flow_of_its_own(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "field_east_deep_flow", f"log={log}", "delay=0.1")
    assert list(result) == ["field.east.deep.probe"]
    assert list(trace(log)) == ["east"]


def test_a_flow_runs_only_the_upstream_operations_its_inputs_need(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "review_flow", f"log={log}", "delay=0.2")
    assert result == {"review.judge": {"ok": True, "total": 3}}
    # combine needs north and south; nothing in review needs east.
    assert sorted(trace(log)) == ["combine", "judge", "north", "south"]


def test_a_caller_can_supply_the_upstream_datamodel_and_skip_its_producers(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    survey = json.dumps({"sites": ["given"], "total": 1})
    result = run(lab, server_env, "review_flow", f"log={log}", f"survey={survey}")
    assert result == {"review.judge": {"ok": False, "total": 1}}
    assert list(trace(log)) == ["judge"]


def test_a_failure_stops_exactly_its_dependents_and_names_the_operation(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run_pulpo(
        "prefect",
        "run",
        "faulty_flow",
        "-p",
        f"log={log}",
        "-p",
        "delay=1",
        cwd=lab,
        env=server_env,
    )
    assert result.returncode == 1
    assert (
        "error: flow 'faulty_flow' failed: operation 'faulty.broken' failed: "
        "RuntimeError: the sensor is unplugged" in result.stderr
    )
    ran = trace(log)
    assert "after" not in ran  # depends on the broken one
    assert "slow" in ran  # independent: finished although broken failed first
    assert ran["slow"]["ended"] > ran["broken"]["ended"]


def test_fan_out_keeps_item_order_and_the_concurrency_limit(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "batch_flow", f"log={log}", "size=6", "delay=0.4")
    assert [m["index"] for m in result["batch.measure"]] == [0, 1, 2, 3, 4, 5]
    assert result["batch.summarize"] == {"labels": ["S0", "S1", "S2", "S3", "S4", "S5"]}
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    events = sorted(
        [(c["started"], 1) for c in calls] + [(c["ended"], -1) for c in calls]
    )
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 2  # in parallel, but never more than max_concurrency=2
    # Later items are faster, so some finished before earlier ones.
    ends = [c["index"] for c in sorted(calls, key=lambda c: c["ended"])]
    assert ends != sorted(ends)


def test_parameters_named_like_generated_code_reach_the_function_unchanged(
    lab: Path, server_env: dict[str, str]
) -> None:
    result = run(lab, server_env, "names_flow", "asyncio=100", "task=300")
    values = result["names.second"]["values"]
    assert values["asyncio"] == 100 and values["task"] == 300
    assert values["run_task"] == 4 and values["DOCUMENTS"] == 7
    assert values["first_when_ready"] == 22 and values["second"] == 23


def test_cpu_bound_operations_run_in_parallel_processes(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "cpu_pool_flow", f"log={log}", "seconds=1.5")
    left, right = result["cpu.pool.left"], result["cpu.pool.right"]
    assert left["pid"] != right["pid"]
    # 1.5 s of CPU each on 2 cores: overlapping means two processes burned at once.
    assert overlap(left, right) > 0.75
    assert result["cpu.pool.join"]["pids"] == [left["pid"], right["pid"]]


def test_a_processes_flow_module_runs_as_a_script(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    """`python run_cache/orchestration/cpu_flow.py` hands its tasks to the pool's
    processes as `pulpo prefect run` does: by reference to the module, which a
    script (`__main__`) is not."""
    assert run_pulpo("build", cwd=lab, env=server_env).returncode == 0
    script = lab / "run_cache" / "orchestration" / "cpu_flow.py"
    args = ["cpu_pool_flow", f"log={tmp_path / 'log'}", "seconds=0.2"]
    completed = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        env={**os.environ, **server_env},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    left, right = result["cpu.pool.left"]["pid"], result["cpu.pool.right"]["pid"]
    assert left != right and result["cpu.pool.join"]["pids"] == [left, right]


REUSE_SCRIPT = """
import asyncio, json, os, sys
with open(__file__ + ".loads", "a") as loads:  # who ran this script
    loads.write(f"{os.getpid()}\\n")
from run_cache.orchestration.cpu_flow import cpu_pool_flow
from run_cache.orchestration.crash_flow import crash_flow

def pids(log):
    result = asyncio.run(cpu_pool_flow(log=log, seconds=0.2))
    return sorted(result["cpu.pool.join"].pids)

def crash():
    try:
        asyncio.run(crash_flow())
    except Exception as error:
        return str(error)

if __name__ == "__main__":
    runs = [pids(sys.argv[1]), pids(sys.argv[1]), crash(), pids(sys.argv[1])]
    print(json.dumps(runs))
"""


def test_later_flow_runs_of_a_process_reuse_its_worker_processes(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Workers outlive a flow run: the second run pays no process start-up. A worker
    that dies fails its own run, and the next run gets new workers. Workers do not
    run the command's script again at their start (the forkserver did, once)."""
    assert run_pulpo("build", cwd=lab, env=server_env).returncode == 0
    script = tmp_path / "twice.py"
    script.write_text(REUSE_SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "log")],
        cwd=lab,
        env={**os.environ, **server_env, "PYTHONPATH": str(lab)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    first, second, crashed, after = json.loads(completed.stdout.splitlines()[-1])
    assert len(set(first)) == 2 and first == second
    assert crashed.startswith("operation 'crash.exit' failed: BrokenProcessPool")
    assert len(set(after)) == 2 and not set(after) & set(first)
    loads = {int(pid) for pid in (tmp_path / "twice.py.loads").read_text().split()}
    assert len(loads) == 2 and not loads & {*first, *after}, loads


CHILDREN = """
import importlib, os, sys
importlib.import_module(sys.argv[1])
mine = str(os.getpid())
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        command = open(f"/proc/{pid}/cmdline").read().replace("\\0", " ")
    except OSError:
        continue
    if stat[1] == mine:
        print(command)
"""


@pytest.mark.parametrize(
    ("module", "starts"),
    [("run_cache.orchestration.cpu_flow", True), ("run_cache.api.flows", False)],
)
def test_a_forkserver_starts_at_import_only_where_flows_run(
    lab: Path, module: str, starts: bool
) -> None:
    """A `processes` flow module starts its forkserver as it loads, so that workers
    are ready by the first run; the API, which imports every flow module to read
    signatures and runs flows through deployments only, starts none."""
    assert run_pulpo("build", cwd=lab).returncode == 0
    children = subprocess.run(
        [sys.executable, "-c", CHILDREN, module],
        cwd=lab,
        env={**os.environ, "PYTHONPATH": str(lab)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert ("multiprocessing.forkserver" in children) is starts, children


@pytest.mark.parametrize(
    ("flow", "completed"),
    [("cpu_pool_flow", 4), ("cpu_dask_flow", 3)],  # its tasks and the flow
)
def test_workers_report_to_the_temporary_server_of_their_flow_run(
    lab: Path, tmp_path: Path, flow: str, completed: int
) -> None:
    """In ephemeral mode, process and local Dask workers use the flow run's temporary
    server instead of starting one each (seconds per worker, and task runs recorded
    elsewhere)."""
    env = {"PREFECT_API_URL": "", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    args = ["prefect", "run", flow, "--ephemeral"]
    result = run_pulpo(*args, "-p", f"log={tmp_path / 'log'}", cwd=lab, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("Starting temporary server") == 1
    assert result.stderr.count("Finished in state Completed") == completed


def test_dask_runs_tasks_on_a_local_cluster_of_processes(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    result = run(lab, server_env, "cpu_dask_flow", f"log={log}", "seconds=1.5")
    left, right = result["cpu.dask.left"], result["cpu.dask.right"]
    assert left["pid"] != right["pid"]
    assert overlap(left, right) > 0.75
    # Forked from a process that had imported the project, not spawned to import it.
    assert (
        left["imported_in"] == right["imported_in"] not in (left["pid"], right["pid"])
    )


def test_an_unreachable_dask_scheduler_is_one_clear_error(
    lab: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**server_env, "PULPO_DASK_ADDRESS": "tcp://127.0.0.1:9"}
    result = run_pulpo(
        "prefect",
        "run",
        "cpu_dask_flow",
        "-p",
        f"log={tmp_path / 'log'}",
        cwd=lab,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr


def test_generated_flows_pass_mypy_and_a_miswired_copy_does_not(lab: Path) -> None:
    built = run_pulpo("build", cwd=lab)
    assert built.returncode == 0, built.stderr
    checked = mypy("--ignore-missing-imports", "run_cache", cwd=lab)
    assert checked.returncode == 0, checked.stdout
    module = lab / "run_cache" / "orchestration" / "review_flow.py"
    source = module.read_text()
    try:
        # Hand the judge a Reading where it takes a Survey.
        module.write_text(
            source.replace(
                "survey=survey if survey is not None else await field_combine",
                "survey=await field_north_probe",
            )
        )
        assert module.read_text() != source
        broken = mypy("--ignore-missing-imports", "run_cache", cwd=lab)
        assert broken.returncode == 1
        assert 'incompatible type "Reading"; expected "Survey"' in broken.stdout
    finally:
        module.write_text(source)


DOCUMENTS = """
from beanie import Document
from pydantic import BaseModel

from pulpo import datamodel, operation


@datamodel
class Note(Document):
    text: str
    loop: str

    class Settings:
        name = "notes"


@datamodel
class Saved(BaseModel):
    count: int


async def save(text: str) -> Saved:
    import asyncio
    import threading

    loop = f"{threading.get_ident()}:{id(asyncio.get_running_loop())}"
    await Note(text=text, loop=loop).insert()
    return Saved(count=await Note.find(Note.text == text).count())


@operation(name="notes.threads.save", outputs=Saved)
async def save_in_threads(text: str) -> Saved:
    return await save(text)


@operation(name="notes.pool.save", outputs=Saved)
async def save_in_pool(text: str) -> Saved:
    return await save(text)
"""


def test_beanie_documents_work_from_threads_and_from_other_processes(
    make_project, server_env: dict[str, str]
) -> None:
    from tests.e2e.conftest import free_port

    root = make_project(
        ops=DOCUMENTS,
        pyproject=(
            '[project]\nname = "app"\nversion = "0"\n\n[tool.pulpo]\n'
            'modules = ["app.ops"]\n\n[tool.pulpo.flows.notes_pool_flow]\n'
            'task_runner = "processes"\n'
        ),
    )
    env = {
        **server_env,
        "PULPO_DB_PORT": str(free_port()),
        "PULPO_DATABASE": "notes_test",
        "MONGODB_URL": "",
    }
    started = run_pulpo("db", "start", cwd=root, env=env)
    assert started.returncode == 0, started.stderr
    try:
        first = run(root, env, "notes_threads_flow", "text=from-threads")
        assert first == {"notes.threads.save": {"count": 1}}
        pooled = run(root, env, "notes_pool_flow", "text=from-a-process")
        assert pooled == {"notes.pool.save": {"count": 1}}
        again = run(root, env, "notes_pool_flow", "text=from-a-process")
        assert again == {"notes.pool.save": {"count": 2}}
    finally:
        stopped = run_pulpo("down", cwd=root, env=env)
        assert stopped.returncode == 0, stopped.stderr


def test_a_value_that_cannot_cross_processes_is_an_error_naming_the_operation(
    lab: Path, server_env: dict[str, str]
) -> None:
    result = run_pulpo("prefect", "run", "leak_flow", cwd=lab, env=server_env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: flow 'leak_flow' failed: operation 'leak.lock'")
    assert "must pickle" in last
