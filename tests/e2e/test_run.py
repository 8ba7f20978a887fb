"""`pulpo prefect run` end to end: real CLI subprocesses against a real Prefect server."""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_errors import assert_user_error
from tests.conftest import REPO, MakeProject, run_pulpo
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

TIMED = """
import asyncio
import time
from pathlib import Path

from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Span(BaseModel):
    name: str
    started: float
    ended: float


@datamodel
class Summary(BaseModel):
    names: list[str]


def span(name: str, seconds: float) -> Span:
    started = time.time()
    time.sleep(seconds)
    return Span(name=name, started=started, ended=time.time())


@operation(name="ingest.slow.load", outputs=Span)
def slow(delay: float = 2.0) -> Span:
    return span("slow", delay)


@operation(name="ingest.fast.load", outputs=Span)
async def fast() -> Span:
    started = time.time()
    await asyncio.sleep(2.5)
    return Span(name="fast", started=started, ended=time.time())


@operation(name="ingest.fast.follow", inputs=Span, outputs=Summary)
def follow(fast: Span) -> Summary:
    return Summary(names=[f"after:{fast.name}:{time.time()}"])


@operation(name="ingest.merge", inputs=[Span], outputs=Summary)
def merge(spans: list[Span]) -> Summary:
    return Summary(names=[s.name for s in spans])
"""

POLICIES = """
import asyncio
import time
from pathlib import Path

from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Count(BaseModel):
    attempts: int


def bump(path: str) -> int:
    file = Path(path)
    attempts = int(file.read_text()) + 1 if file.exists() else 1
    file.write_text(str(attempts))
    return attempts


@operation(name="flaky.succeeds", outputs=Count, retries=2, retry_delay=0.3, backoff=2)
def succeeds(counter: str) -> Count:
    attempts = bump(counter)
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts} failed")
    return Count(attempts=attempts)


@operation(
    name="capped.retry",
    outputs=Count,
    retries=3,
    retry_delay=0.3,
    backoff=10,
    max_retry_delay=0.6,
    retry_jitter=0.5,
)
def capped(counter: str, stamps: str) -> Count:
    with open(stamps, "a") as log:
        log.write(f"{time.time()}\\n")
    attempts = bump(counter)
    if attempts < 4:
        raise ConnectionError(f"attempt {attempts} failed")
    return Count(attempts=attempts)


@operation(
    name="picky.retry",
    outputs=Count,
    retries=3,
    retry_delay=0.1,
    retry_on=ConnectionError,
)
def picky(counter: str, fail_with: str) -> Count:
    attempts = bump(counter)
    if attempts < 3:
        error = {"connection": ConnectionError, "value": ValueError}[fail_with]
        raise error(f"attempt {attempts} failed")
    return Count(attempts=attempts)


@operation(name="broken.never", retries=1, retry_delay=0.1)
def never(counter: str) -> None:
    bump(counter)
    raise ValueError("the service is down")


@operation(name="slow.hang", timeout=1)
async def hang() -> None:
    await asyncio.sleep(30)


@operation(name="shape.bad", outputs=Count)
def bad() -> Count:
    return {"attempts": "many"}  # type: ignore[return-value]


@operation(name="shape.coerced", outputs=Count)
def coerced(sizes: list[int] = [1]) -> Count:  # noqa: B006
    return {"attempts": sum(sizes)}  # type: ignore[return-value]
"""


def run_json(*args: str, cwd: Path, env: dict[str, str]) -> dict:
    result = run_pulpo("prefect", "run", *args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def jobhunter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("example") / "jobhunter"
    shutil.copytree(
        REPO / "examples" / "jobhunter",
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    return project


def test_example_scraping_flow_merges_both_boards(
    jobhunter: Path, server_env: dict[str, str]
) -> None:
    result = run_json(
        "scraping_flow", "--param", "keywords=python", cwd=jobhunter, env=server_env
    )
    assert sorted(result) == [
        "scraping.linkedin.fetch",
        "scraping.merge",
        "scraping.stepstone.fetch",
    ]
    merged = result["scraping.merge"]
    assert merged["sources"] == ["linkedin", "stepstone"]
    urls = [p["url"] for p in merged["postings"]]
    assert urls == sorted(set(urls)) and len(urls) == 6  # 4 + 4 postings, 2 shared
    assert all("python" in url for url in urls)


def test_example_parsing_flow_runs_scraping_first(
    jobhunter: Path, server_env: dict[str, str]
) -> None:
    result = run_json(
        "parsing_flow",
        "-p",
        "keywords=rust",
        "-p",
        "top=2",
        cwd=jobhunter,
        env=server_env,
    )
    assert sorted(result) == ["parsing.skills.extract", "parsing.summarize"]
    report = result["parsing.summarize"]
    assert report["total_postings"] == 6
    assert len(report["top_skills"]) == 2
    assert report["top_skills"][0][0] == "rust"


def test_independent_branches_run_concurrently_and_dependents_start_early(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=TIMED)
    started = time.monotonic()
    result = run_json("ingest_flow", "--param", "delay=8", cwd=root, env=server_env)
    slow, fast = result["ingest.slow.load"], result["ingest.fast.load"]
    assert fast["started"] < slow["ended"] and slow["started"] < fast["ended"]
    follow_time = float(result["ingest.fast.follow"]["names"][0].rsplit(":", 1)[1])
    assert follow_time < slow["ended"], (
        "follow waited for an operation it does not need"
    )
    assert result["ingest.merge"]["names"] == [
        "fast",
        "slow",
    ]  # list[X]: producers by name
    assert time.monotonic() - started < 30


def test_retries_with_backoff_then_success(
    make_project: MakeProject, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = make_project(ops=POLICIES)
    counter = tmp_path / "count"
    started = time.monotonic()
    result = run_json(
        "flaky_flow", "-p", f"counter={counter}", cwd=root, env=server_env
    )
    assert result["flaky.succeeds"] == {"attempts": 3}
    assert time.monotonic() - started >= 0.9  # 0.3 s then 0.6 s between attempts


def test_retry_delays_stop_growing_at_the_cap_and_carry_jitter(
    make_project: MakeProject, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Backoff 10 from 0.3 s would wait 0.3, 3 and 30 s; the cap keeps it at 0.6 s."""
    root = make_project(ops=POLICIES)
    stamps = tmp_path / "stamps"
    result = run_json(
        "capped_flow",
        "-p",
        f"counter={tmp_path / 'count'}",
        "-p",
        f"stamps={stamps}",
        cwd=root,
        env=server_env,
    )
    assert result["capped.retry"] == {"attempts": 4}
    times = [float(line) for line in stamps.read_text().split()]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 3 and all(gap >= 0.1 for gap in gaps), gaps
    assert max(gaps[1:]) < 2.5, gaps  # 0.6 s × at most 1.5 for jitter, plus Prefect
    inspect = run_pulpo("inspect", cwd=root, env=server_env)
    assert (
        "capped.retry: - → Count  [capped_flow]  retries 3 after 0.3, 0.6, 0.6 s +50%"
        in (inspect.stdout)
    )
    generated = (root / "run_cache" / "orchestration" / "capped_flow.py").read_text()
    assert "retry_jitter_factor=0.5" in generated


def test_retry_on_retries_only_the_listed_exception_types(
    make_project: MakeProject, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = make_project(ops=POLICIES)
    retried = tmp_path / "connection"
    result = run_json(
        "picky_flow",
        "-p",
        f"counter={retried}",
        "-p",
        "fail_with=connection",
        cwd=root,
        env=server_env,
    )
    assert result["picky.retry"] == {"attempts": 3}
    once = tmp_path / "value"
    failed = run_pulpo(
        "prefect",
        "run",
        "picky_flow",
        "-p",
        f"counter={once}",
        "-p",
        "fail_with=value",
        cwd=root,
        env=server_env,
    )
    assert failed.returncode == 1, failed.stderr
    assert "operation 'picky.retry' failed: ValueError: attempt 1 failed" in (
        failed.stderr
    )
    assert once.read_text() == "1"  # not retried
    inspect = run_pulpo("inspect", cwd=root, env=server_env).stdout
    assert "retries 3 after 0.1, 0.2, 0.4 s on ConnectionError" in inspect
    generated = (root / "run_cache" / "orchestration" / "picky_flow.py").read_text()
    assert "retry_condition_fn=RetryOnlyOn(ConnectionError)" in generated


def test_an_operation_that_keeps_failing_fails_the_run_naming_it(
    make_project: MakeProject, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = make_project(ops=POLICIES)
    counter = tmp_path / "never"
    result = run_pulpo(
        "prefect",
        "run",
        "broken_flow",
        "-p",
        f"counter={counter}",
        cwd=root,
        env=server_env,
    )
    assert result.returncode == 1
    assert (
        "error: flow 'broken_flow' failed: operation 'broken.never' failed: ValueError: the service is down"
        in result.stderr
    )
    assert counter.read_text() == "2"  # first try and one retry


def test_timeouts_stop_an_operation(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=POLICIES)
    started = time.monotonic()
    result = run_pulpo("prefect", "run", "slow_flow", cwd=root, env=server_env)
    assert result.returncode == 1
    assert (
        "operation 'slow.hang' failed" in result.stderr
        and "timed out" in result.stderr.lower()
    )
    assert time.monotonic() - started < 25


def test_wrongly_shaped_output_names_the_operation_and_field(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=POLICIES)
    result = run_pulpo(
        "prefect", "run", "shape_flow", "-p", "sizes=[2, 3]", cwd=root, env=server_env
    )
    assert result.returncode == 1
    assert (
        "operation 'shape.bad' returned data that does not fit Count: field 'attempts'"
        in result.stderr
    )


def test_json_parameters_and_dict_outputs_are_validated(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(
        ops=POLICIES.replace(
            '@operation(name="shape.bad"', '@operation(name="other.bad"'
        )
    )
    result = run_json("shape_flow", "-p", "sizes=[2, 3]", cwd=root, env=server_env)
    assert result == {"shape.coerced": {"attempts": 5}}


def test_parameters_of_the_wrong_type_are_a_user_error(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=TIMED)
    result = run_pulpo(
        "prefect", "run", "ingest_flow", "-p", "delay=soon", cwd=root, env=server_env
    )
    assert_user_error(
        result,
        "invalid value 'soon' for parameter 'delay' of flow 'ingest_flow'",
        "number",
    )


def test_generated_module_runs_as_a_script(
    jobhunter: Path, server_env: dict[str, str]
) -> None:
    run_pulpo("build", cwd=jobhunter)
    script = jobhunter / "run_cache" / "orchestration" / "scraping_flow.py"
    completed = subprocess.run(
        [
            sys.executable,
            str(script),
            "scraping_stepstone_flow",
            "keywords=go",
            "limit=2",
        ],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **server_env},
        cwd=jobhunter.parent,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    assert [p["url"] for p in result["scraping.stepstone.fetch"]["postings"]] == [
        "https://jobs.example/go/stepstone-0",
        "https://jobs.example/go/1",
    ]


SHARED = """
from pathlib import Path

from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Seed(BaseModel):
    value: int


@datamodel
class Grown(BaseModel):
    value: int


@operation(name="garden.seed.plant", outputs=Seed)
def plant(log: str) -> Seed:
    with open(log, "a") as file:
        file.write("plant\\n")
    return Seed(value=1)


@operation(name="garden.water.grow", inputs=Seed, outputs=Grown)
async def grow(seed: Seed) -> Grown:
    return Grown(value=seed.value + 1)
"""


def test_a_parent_flow_passes_results_down_instead_of_rerunning(
    make_project: MakeProject, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = make_project(ops=SHARED)
    log = tmp_path / "log"
    result = run_json("garden_flow", "-p", f"log={log}", cwd=root, env=server_env)
    assert result == {
        "garden.seed.plant": {"value": 1},
        "garden.water.grow": {"value": 2},
    }
    assert log.read_text() == "plant\n"  # once, although the water flow needs it too
    alone = run_json("garden_water_flow", "-p", f"log={log}", cwd=root, env=server_env)
    assert alone == {"garden.water.grow": {"value": 2}}
    assert log.read_text() == "plant\nplant\n"  # standing alone, it ran its upstream


def test_awkward_signatures_run(server_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "wide"
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "fixtures" / "wide",
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    result = run_json(
        "reporting_flow",
        "-p",
        'settings={"factor": 2}',
        "-p",
        "size=2",
        cwd=project,
        env=server_env,
    )
    assert result == {
        "reporting.combine": {"total": 6, "sources": ["alpha", "beta", "gamma"]}
    }


@pytest.mark.parametrize(
    ("option", "setting"),
    [("--ephemeral", {}), (None, {"PULPO_LOCAL_SERVER": "0"})],
    ids=["--ephemeral", "local_server=false"],
)
def test_without_a_server_runs_can_use_an_ephemeral_prefect_under_run_cache(
    jobhunter: Path, tmp_path: Path, option: str | None, setting: dict[str, str]
) -> None:
    env = {
        "HOME": str(tmp_path),
        "PREFECT_API_URL": "",
        "PREFECT_HOME": "",
        "PULPO_PREFECT_PORT": str(free_port()),
        **setting,
    }
    options = [option] if option else []
    result = run_pulpo(
        "prefect", "run", "healthcheck_flow", *options, cwd=jobhunter, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == {
        "healthcheck": {"ok": True, "checked": ["skills", "companies"]}
    }
    assert (jobhunter / ".pulpo" / "prefect").is_dir()
    assert "Starting temporary server" in result.stderr
    assert "started the project's Prefect server" not in result.stderr
    status = run_pulpo("status", "--json", cwd=jobhunter, env=env)
    assert {row["state"] for row in json.loads(status.stdout)} == {"stopped"}


GREETING = """
from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Greeting(BaseModel):
    text: str


@datamodel
class Shout(BaseModel):
    text: str


@operation(name="greet.hello", outputs=Greeting)
def hello(name: str = "world") -> Greeting:
    return Greeting(text=f"hello {name}")


@operation(name="greet.shout", inputs=Greeting, outputs=Shout)
def shout(greeting: Greeting) -> Shout:
    return Shout(text=greeting.text.upper())
"""


def generated_state(root: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime of run_cache/orchestration/ and of every file in it."""
    folder = root / "run_cache" / "orchestration"
    return {
        str(path.relative_to(root)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in [folder, *folder.iterdir()]
        if path.name != "__pycache__"
    }


def test_runs_rebuild_only_when_the_code_changed(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=GREETING)
    first = run_json("greet_flow", "-p", "name=ada", cwd=root, env=server_env)
    assert first["greet.shout"] == {"text": "HELLO ADA"}
    built = generated_state(root)

    again = run_json("greet_flow", "-p", "name=bob", cwd=root, env=server_env)
    assert again["greet.shout"] == {"text": "HELLO BOB"}
    assert generated_state(root) == built  # no build: nothing swapped or rewritten

    ops = root / "app" / "ops.py"
    ops.write_text(ops.read_text().replace("text.upper()", 'text.upper() + "!"'))
    edited = run_json("greet_flow", "-p", "name=bob", cwd=root, env=server_env)
    assert edited["greet.shout"] == {"text": "HELLO BOB!"}
    assert generated_state(root) != built  # rebuilt (the flow files are unchanged)


def test_a_new_module_is_picked_up_once_imported(
    make_project: MakeProject, server_env: dict[str, str]
) -> None:
    root = make_project(ops=GREETING)
    assert run_json("greet_flow", cwd=root, env=server_env)["greet.shout"]
    (root / "app" / "extra.py").write_text(
        "from pulpo import operation\n\n\n"
        '@operation(name="extra.ping")\ndef ping() -> str:\n    return "pong"\n'
    )
    ops = root / "app" / "ops.py"
    ops.write_text("from app.extra import ping  # noqa: F401\n" + ops.read_text())
    assert run_json("extra_flow", cwd=root, env=server_env) == {"extra.ping": "pong"}


TASK_LINE = re.compile(r"Task run '[^']+' - Finished in state Completed")
FLOW_LINE = re.compile(r"Flow run '[^']+' - Finished in state Completed")


@pytest.mark.parametrize("quiet", ["task_logs", "--quiet-tasks", None])
def test_task_logs_warning_drops_the_per_task_lines(
    make_project: MakeProject, server_env: dict[str, str], quiet: str | None
) -> None:
    setting = '\ntask_logs = "warning"\n' if quiet == "task_logs" else ""
    root = make_project(
        ops=GREETING,
        pyproject=f'[tool.pulpo]\nmodules = ["app.ops"]{setting}\n',
    )
    options = ["--quiet-tasks"] if quiet == "--quiet-tasks" else []
    result = run_pulpo(
        "prefect", "run", "greet_flow", *options, cwd=root, env=server_env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["greet.shout"] == {"text": "HELLO WORLD"}
    assert FLOW_LINE.search(result.stderr), result.stderr
    tasks = TASK_LINE.findall(result.stderr)
    assert len(tasks) == (0 if quiet else 2), result.stderr
