"""`@operation(cache=...)` end to end: `pulpo prefect run` subprocesses against a real
Prefect server, counting calls from inside the user's functions."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import MakeProject, run_pulpo

pytestmark = pytest.mark.e2e

EXPIRY = 12  # seconds: longer than two CLI runs take on a busy machine

CACHED = f"""
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict
from pulpo import datamodel, operation


@datamodel
class Square(BaseModel):
    n: int
    value: int
    computed_at: float


@datamodel
class Handle(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    lock: Any


def called(calls: str) -> float:
    now = time.time()
    with open(calls, "a") as log:
        log.write(f"{{now}}\\n")
    return now


@operation(name="math.square", outputs=Square, cache=True, cache_expiration={EXPIRY})
def square(calls: str, n: int = 3) -> Square:
    return Square(n=n, value=n * n, computed_at=called(calls))


@operation(name="crunch.square", outputs=Square, cache=True)
def crunch(calls: str, n: int = 3) -> Square:
    return Square(n=n, value=n * n, computed_at=called(calls))


@operation(name="locks.make", outputs=Handle)
def make() -> Handle:
    return Handle(lock=threading.Lock())


@operation(name="locky.use", inputs=Handle, cache=True)
def use(handle: Handle, calls: str) -> float:
    return called(calls)
"""

PROCESSES = """
[tool.pulpo.flows.crunch_flow]
task_runner = "processes"
"""


def calls_in(path: Path) -> list[float]:
    return [float(line) for line in path.read_text().split()] if path.exists() else []


def run(root: Path, env: dict[str, str], flow: str, *args: str) -> tuple[dict, str]:
    """The flow's result and the command's stderr."""
    result = run_pulpo("prefect", "run", flow, *args, cwd=root, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout), result.stderr


@pytest.fixture
def project(make_project: MakeProject) -> Path:
    root = make_project(ops=CACHED)
    config = root / "pyproject.toml"
    config.write_text(config.read_text() + PROCESSES)
    return root


def test_a_cache_hit_skips_the_function_until_the_result_expires(
    project: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    first, _ = run(project, server_env, "math_flow", "-p", f"calls={calls}")
    again, log = run(project, server_env, "math_flow", "-p", f"calls={calls}")
    assert len(calls_in(calls)) == 1  # the second run did not call the function
    assert again == first  # the stored result, computed_at and all
    assert "operation 'math.square': result from the cache" in log
    other, _ = run(
        project, server_env, "math_flow", "-p", f"calls={calls}", "-p", "n=4"
    )
    assert other["math.square"]["value"] == 16
    assert len(calls_in(calls)) == 2  # other inputs, another entry
    time.sleep(max(0.0, calls_in(calls)[0] + EXPIRY + 0.5 - time.time()))
    expired, log = run(project, server_env, "math_flow", "-p", f"calls={calls}")
    assert len(calls_in(calls)) == 3
    assert expired["math.square"]["computed_at"] > first["math.square"]["computed_at"]
    assert "result from the cache" not in log
    assert (project / ".pulpo" / "results").is_dir()  # the project's own storage


def test_an_edited_function_does_not_reuse_its_old_results(
    project: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    run(project, server_env, "math_flow", "-p", f"calls={calls}")
    ops = project / "app" / "ops.py"
    ops.write_text(ops.read_text().replace("value=n * n", "value=n * n + 0"))
    run(project, server_env, "math_flow", "-p", f"calls={calls}")
    assert len(calls_in(calls)) == 2
    run(project, server_env, "math_flow", "-p", f"calls={calls}")
    assert len(calls_in(calls)) == 2  # the new source's result is reused


def test_refresh_cache_runs_the_function_again_and_stores_the_new_result(
    project: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Also under the processes task runner, whose workers are other processes, and
    with Prefect's line per task run left out (--quiet-tasks)."""
    calls = tmp_path / "calls"
    first, _ = run(project, server_env, "crunch_flow", "-p", f"calls={calls}")
    fresh, _ = run(
        project, server_env, "crunch_flow", "-p", f"calls={calls}", "--refresh-cache"
    )
    assert len(calls_in(calls)) == 2
    assert fresh["crunch.square"]["computed_at"] > first["crunch.square"]["computed_at"]
    reused, log = run(
        project, server_env, "crunch_flow", "-p", f"calls={calls}", "--quiet-tasks"
    )
    assert len(calls_in(calls)) == 2
    assert reused == fresh  # the refreshed result replaced the first
    assert "Task run" not in log
    assert "operation 'crunch.square': result from the cache" in log


def test_an_input_that_cannot_be_hashed_runs_uncached_with_a_warning(
    project: Path, server_env: dict[str, str], tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    for _ in range(2):
        _, log = run(project, server_env, "locky_flow", "-p", f"calls={calls}")
        assert (
            "operation 'locky.use' is not cached: its input 'handle' (Handle) cannot "
            "be hashed" in log
        )
    assert len(calls_in(calls)) == 2


def test_inspect_shows_the_cache_policy(
    project: Path, server_env: dict[str, str]
) -> None:
    text = run_pulpo("inspect", cwd=project, env=server_env).stdout
    assert "math.square: - → Square  [math_flow]  cache: inputs+source, expires " in (
        text
    )
    assert "after 12 s" in text
    assert (
        "crunch.square: - → Square  [crunch_flow]  cache: inputs+source, no expiry"
        in (text)
    )
    graph = json.loads(
        run_pulpo("inspect", "--json", cwd=project, env=server_env).stdout
    )
    policies = {op["name"]: op["policy"]["cache"] for op in graph["operations"]}
    assert policies["math.square"] == {"key": "inputs+source", "expiration": 12.0}
    assert policies["locks.make"] is None
