"""Run-time figures for pulpo's generated flows, next to hand-written Prefect flows.

    python benchmarks/flows.py [--repeats 3] [--quick] [--only SCENARIO ...]
                               [--settle 3] [--keep DIR] [--json FILE]

Each scenario builds a synthetic project in a temporary directory with ``pulpo build``,
writes beside it the Prefect flow of the same DAG that a Prefect user would write by
hand (async ``@task`` functions awaited with ``asyncio.gather``, the same task options
as the generated tasks), and times both side by side, alternating contenders:

* ``headline``: two sibling fetchers (1 s each, one sync, one async) and a merge; the
  same with three levels of namespaces; four siblings. Operations log when they start
  and end, so the flow body's wall time can be set against the critical path.
* ``overhead``: chains and fan-outs of 10, 50 and 200 trivial operations.
* ``cpu``: two independent operations burning 1.5 s of CPU each, with the ``threads``,
  ``processes`` and ``dask`` task runners, next to Prefect's own runners and
  ``multiprocessing.Pool(2)``; the first call in a fresh process and later calls.
* ``cli``: ``pulpo prefect run scraping_flow`` on a copy of examples/jobhunter as a
  subprocess, against a hand-written script of the same functions run on a server.

The first three run twice: in Prefect's ephemeral mode (no ``PREFECT_API_URL``; each
process starts a temporary API) and against a ``prefect server`` started for the
purpose on a free port. Flow calls are timed inside one worker process per scenario
(``asyncio.run(flow(...))`` again and again after an untimed first call), so starting
Python and Prefect does not count, except in ``cli``, where it is the point. Each
timed call waits ``--settle`` seconds first: the server records a run's task runs
after the run returns, and a flow run created meanwhile waits for SQLite (about 2 s,
every other call). Figures are medians.

This is a figures script, not a test: it prints PASS/MISS per target and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from example_stack import PULPO, example_copy, free_port

PYTHON = sys.executable
PREFECT = str(Path(sys.executable).with_name("prefect"))
WORKER_TIMEOUT_S = 3600
SCENARIOS = ("headline", "overhead", "cpu", "cli")
MODES = ("ephemeral", "server")  # Prefect's temporary API per process, or a server
CONTENDERS = ("pulpo", "hand")

# ---------------------------------------------------------------------------
# Synthetic projects
# ---------------------------------------------------------------------------

TRACE_MODULE = '''\
"""When each operation ran: one JSON line per call, appended to the file ``log``."""

from __future__ import annotations

import json
import os
import time


def record(log: str, op: str, started: float) -> None:
    entry = {"op": op, "start": started, "end": time.time(), "pid": os.getpid()}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\\n")
'''


@dataclass(frozen=True)
class Fetcher:
    """A sibling operation that sleeps ``delay`` seconds, sync or async."""

    name: str
    param: str  # the merge's parameter; a segment of ``name``, so pulpo wires it
    is_async: bool

    @property
    def func(self) -> str:
        return self.name.replace(".", "_")


@dataclass(frozen=True)
class Variant:
    """Sibling fetchers under the namespace ``top`` and a ``top.merge`` of them all."""

    label: str
    top: str
    fetchers: tuple[Fetcher, ...]

    @property
    def merge(self) -> str:
        return f"{self.top}.merge"

    @property
    def raw(self) -> str:
        return f"{self.top.title()}Raw"

    @property
    def merged(self) -> str:
        return f"{self.top.title()}Merged"

    @property
    def deps(self) -> dict[str, list[str]]:
        names = [f.name for f in self.fetchers]
        return {**{n: [] for n in names}, self.merge: names}


VARIANTS = (
    Variant(
        "two siblings (sync + async), merge",
        "hl",
        (
            Fetcher("hl.stepstone.fetch", "stepstone", False),
            Fetcher("hl.linkedin.fetch", "linkedin", True),
        ),
    ),
    Variant(
        "3 levels: a.b.c, a.b.d, a.e, a.merge",
        "a",
        (
            Fetcher("a.b.c.fetch", "c", False),
            Fetcher("a.b.d.fetch", "d", True),
            Fetcher("a.e.fetch", "e", False),
        ),
    ),
    Variant(
        "four siblings, merge",
        "four",
        (
            Fetcher("four.s1.fetch", "s1", False),
            Fetcher("four.s2.fetch", "s2", True),
            Fetcher("four.s3.fetch", "s3", False),
            Fetcher("four.s4.fetch", "s4", True),
        ),
    ),
)


def write_pyproject(project: Path, modules: list[str], runners: dict[str, str]) -> None:
    lines = [
        "[project]",
        f'name = "{project.name}"',
        'version = "0"',
        "",
        "[tool.pulpo]",
        "modules = [" + ", ".join(f'"{m}"' for m in modules) + "]",
    ]
    for flow, runner in runners.items():
        lines += ["", f"[tool.pulpo.flows.{flow}]", f'task_runner = "{runner}"']
    (project / "pyproject.toml").write_text("\n".join(lines) + "\n")


def headline_ops() -> str:
    out = [
        '"""Sleepers that log when they run (generated by benchmarks/flows.py)."""',
        "",
        "from __future__ import annotations",
        "",
        "import asyncio",
        "import time",
        "",
        "from bench_trace import record",
        "from pydantic import BaseModel",
        "",
        "from pulpo import datamodel, operation",
    ]
    for v in VARIANTS:
        out += [
            "",
            "",
            "@datamodel",
            f"class {v.raw}(BaseModel):",
            "    source: str",
            "",
            "",
            "@datamodel",
            f"class {v.merged}(BaseModel):",
            "    sources: list[str]",
        ]
        for f in v.fetchers:
            kind, wait = (
                ("async def", "await asyncio.sleep(delay)")
                if f.is_async
                else ("def", "time.sleep(delay)")
            )
            out += [
                "",
                "",
                f'@operation(name="{f.name}", outputs={v.raw})',
                f"{kind} {f.func}(log: str, delay: float = 1.0) -> {v.raw}:",
                "    started = time.time()",
                f"    {wait}",
                f'    record(log, "{f.name}", started)',
                f'    return {v.raw}(source="{f.name}")',
            ]
        params = ", ".join(f"{f.param}: {v.raw}" for f in v.fetchers)
        sources = ", ".join(f"{f.param}.source" for f in v.fetchers)
        out += [
            "",
            "",
            f'@operation(name="{v.merge}", inputs={v.raw}, outputs={v.merged})',
            f"def {v.top}_merge(log: str, {params}) -> {v.merged}:",
            "    started = time.time()",
            f"    merged = {v.merged}(sources=[{sources}])",
            f'    record(log, "{v.merge}", started)',
            "    return merged",
        ]
    return "\n".join(out) + "\n"


HAND_HEADER = [
    '"""The same DAGs as a Prefect user writes them (generated by benchmarks/flows.py).',
    "",
    "Async tasks with the generated tasks' options (no cache policy), blocking functions",
    "in a worker thread, independent tasks awaited together with asyncio.gather.",
    '"""',
    "",
    "from __future__ import annotations",
    "",
    "import asyncio",
    "from typing import Any",
    "",
    "from prefect import flow, task",
    "from prefect.cache_policies import NO_CACHE",
]


def headline_hand() -> str:
    out = [*HAND_HEADER, "", "import bench_headline as ops"]
    for v in VARIANTS:
        for f in v.fetchers:
            call = (
                f"await ops.{f.func}(log=log, delay=delay)"
                if f.is_async
                else f"await asyncio.to_thread(ops.{f.func}, log=log, delay=delay)"
            )
            out += [
                "",
                "",
                f'@task(name="{f.name}", cache_policy=NO_CACHE)',
                f"async def {f.func}(log: str, delay: float) -> ops.{v.raw}:",
                f"    return {call}",
            ]
        params = ", ".join(f"{f.param}: ops.{v.raw}" for f in v.fetchers)
        passed = ", ".join(f"{f.param}={f.param}" for f in v.fetchers)
        out += [
            "",
            "",
            f'@task(name="{v.merge}", cache_policy=NO_CACHE)',
            f"async def {v.top}_merge(log: str, {params}) -> ops.{v.merged}:",
            f"    return ops.{v.top}_merge(log=log, {passed})",
            "",
            "",
            f'@flow(name="hand_{v.top}_flow")',
            f"async def hand_{v.top}_flow(log: str, delay: float = 1.0) -> dict[str, Any]:",
            f"    {', '.join(f.param for f in v.fetchers)} = await asyncio.gather(",
            *[f"        {f.func}(log=log, delay=delay)," for f in v.fetchers],
            "    )",
            f"    merged = await {v.top}_merge(log=log, {passed})",
            "    return {",
            *[f'        "{f.name}": {f.param},' for f in v.fetchers],
            f'        "{v.merge}": merged,',
            "    }",
        ]
    return "\n".join(out) + "\n"


def op_id(shape: str, n: int, k: int) -> tuple[str, str, str]:
    """Operation name, function name and output model of op ``k`` of a DAG."""
    top = f"{shape}{n}"
    return f"{top}.s{k:04d}", f"{top}_s{k:04d}", f"{top.title()}M{k:04d}"


def overhead_ops(sizes: list[int]) -> str:
    out = [
        '"""Trivial operations in chains and fan-outs (generated by benchmarks/flows.py)."""',
        "",
        "from __future__ import annotations",
        "",
        "from pydantic import BaseModel",
        "",
        "from pulpo import datamodel, operation",
    ]
    for shape in ("chain", "fan"):
        for n in sizes:
            for k in range(n):
                name, func, model = op_id(shape, n, k)
                if shape == "chain" and k > 0:
                    prev = op_id(shape, n, k - 1)[2]
                    signature, value = f"prev: {prev}", "prev.value + 1"
                    inputs = prev
                else:
                    signature, value, inputs = "seed: int = 1", "seed", "None"
                out += [
                    "",
                    "",
                    "@datamodel",
                    f"class {model}(BaseModel):",
                    "    value: int",
                    "",
                    "",
                    f'@operation(name="{name}", inputs={inputs}, outputs={model})',
                    f"def {func}({signature}) -> {model}:",
                    f"    return {model}(value={value})",
                ]
    return "\n".join(out) + "\n"


def overhead_hand(sizes: list[int], threaded: bool = False) -> str:
    """One task per operation; ``threaded`` runs each sync function in a worker
    thread (``asyncio.to_thread``), as the generated tasks do."""
    prefix = "handthr" if threaded else "hand"
    out = [*HAND_HEADER, "", "import bench_overhead as ops"]
    for shape in ("chain", "fan"):
        for n in sizes:
            ids = [op_id(shape, n, k) for k in range(n)]
            for k, (name, func, model) in enumerate(ids):
                arg = "prev" if shape == "chain" and k > 0 else "seed"
                kind = f"ops.{ids[k - 1][2]}" if arg == "prev" else "int"
                out += [
                    "",
                    "",
                    f'@task(name="{name}", cache_policy=NO_CACHE)',
                    f"async def {func}({arg}: {kind}) -> ops.{model}:",
                    f"    return await asyncio.to_thread(ops.{func}, {arg}={arg})"
                    if threaded
                    else f"    return ops.{func}({arg}={arg})",
                ]
            out += [
                "",
                "",
                f'@flow(name="{prefix}_{shape}{n}_flow")',
                f"async def {prefix}_{shape}{n}_flow(seed: int = 1) -> dict[str, Any]:",
            ]
            if shape == "chain":
                for k, (_, func, _) in enumerate(ids):
                    arg = f"prev=v{k - 1}" if k else "seed=seed"
                    out.append(f"    v{k} = await {func}({arg})")
                out.append("    return {")
                out += [
                    f'        "{name}": v{k},' for k, (name, _, _) in enumerate(ids)
                ]
                out.append("    }")
            else:
                out.append("    results = await asyncio.gather(")
                out += [f"        {func}(seed=seed)," for _, func, _ in ids]
                out.append("    )")
                names = ", ".join(f'"{name}"' for name, _, _ in ids)
                out.append(f"    return dict(zip([{names}], results, strict=True))")
    return "\n".join(out) + "\n"


CPU_RUNNERS = ("threads", "processes", "dask")

CPU_OPS = '''\
"""CPU-bound pure Python (generated by benchmarks/flows.py)."""

from __future__ import annotations

import os
import time

from bench_trace import record
from pydantic import BaseModel

from pulpo import datamodel, operation


@datamodel
class Burned(BaseModel):
    pid: int


def burn(seconds: float) -> None:
    # The calling thread's CPU time: process_time() counts every thread, so two
    # threads burning "until process_time() moved 1.5 s" would stop after 1.5 s of
    # CPU in total and make the GIL look free.
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def burn_logged(log: str, op: str, seconds: float) -> Burned:
    """What each operation does; also the multiprocessing.Pool reference's job."""
    started = time.time()
    burn(seconds)
    record(log, op, started)
    return Burned(pid=os.getpid())
'''


def cpu_ops() -> str:
    out = [CPU_OPS.rstrip("\n")]
    for runner in CPU_RUNNERS:
        for side in ("left", "right"):
            name = f"cpu{runner}.{side}.burn"
            out += [
                "",
                "",
                f'@operation(name="{name}", outputs=Burned)',
                f"def cpu{runner}_{side}(log: str, seconds: float = 1.5) -> Burned:",
                f'    return burn_logged(log, "{name}", seconds)',
            ]
    return "\n".join(out) + "\n"


def cpu_hand() -> str:
    """Prefect's own runners as a Prefect user configures them, sync tasks submitted."""
    out = [
        '"""Prefect\'s own CPU task runners, as a user writes them (benchmarks/flows.py)."""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Any",
        "",
        "from prefect import flow, task",
        "from prefect.cache_policies import NO_CACHE",
        "from prefect.task_runners import ProcessPoolTaskRunner",
        "from prefect_dask import DaskTaskRunner",
        "",
        "import bench_cpu as ops",
    ]
    runners = {
        "processes": "ProcessPoolTaskRunner(max_workers=2)",
        "dask": "DaskTaskRunner()",
    }
    for runner, make in runners.items():
        for side in ("left", "right"):
            name = f"cpu{runner}.{side}.burn"
            out += [
                "",
                "",
                f'@task(name="{name}", cache_policy=NO_CACHE)',
                f"def cpu{runner}_{side}(log: str, seconds: float) -> ops.Burned:",
                f"    return ops.cpu{runner}_{side}(log=log, seconds=seconds)",
            ]
        out += [
            "",
            "",
            f'@flow(name="hand_cpu{runner}_flow", task_runner={make})',
            f"def hand_cpu{runner}_flow(log: str, seconds: float = 1.5) -> dict[str, Any]:",
            f"    left = cpu{runner}_left.submit(log=log, seconds=seconds)",
            f"    right = cpu{runner}_right.submit(log=log, seconds=seconds)",
            "    return {",
            f'        "cpu{runner}.left.burn": left.result(),',
            f'        "cpu{runner}.right.burn": right.result(),',
            "    }",
        ]
    return "\n".join(out) + "\n"


SCRAPING_HAND = '''\
"""examples/jobhunter's scraping_flow as a Prefect user writes it by hand.

    python hand_scraping.py [KEYWORDS]    (prints the result as JSON)
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic_core import to_jsonable_python

from jobhunter.models import CleanedJobs, RawJobs
from jobhunter.operations import fetch_linkedin, fetch_stepstone, merge


@task(name="scraping.linkedin.fetch", timeout_seconds=30, cache_policy=NO_CACHE)
async def linkedin_fetch(keywords: str, limit: int) -> RawJobs:
    return RawJobs.model_validate(await fetch_linkedin(keywords=keywords, limit=limit))


@task(
    name="scraping.stepstone.fetch",
    retries=2,
    retry_delay_seconds=[0.2, 0.4],
    cache_policy=NO_CACHE,
)
async def stepstone_fetch(keywords: str, limit: int) -> RawJobs:
    return await asyncio.to_thread(fetch_stepstone, keywords=keywords, limit=limit)


@task(name="scraping.merge", cache_policy=NO_CACHE)
async def merge_jobs(stepstone: RawJobs, linkedin: RawJobs) -> CleanedJobs:
    return merge(stepstone=stepstone, linkedin=linkedin)


@flow(name="scraping_flow")
async def scraping_flow(keywords: str = "python", limit: int = 4) -> dict[str, Any]:
    stepstone, linkedin = await asyncio.gather(
        stepstone_fetch(keywords, limit), linkedin_fetch(keywords, limit)
    )
    merged = await merge_jobs(stepstone, linkedin)
    return {
        "scraping.linkedin.fetch": linkedin,
        "scraping.merge": merged,
        "scraping.stepstone.fetch": stepstone,
    }


if __name__ == "__main__":
    keywords = sys.argv[1] if len(sys.argv) > 1 else "python"
    result = asyncio.run(scraping_flow(keywords=keywords))
    print(json.dumps(to_jsonable_python(result), indent=2))
'''


def new_project(
    root: Path, name: str, files: dict[str, str], runners: dict[str, str]
) -> Path:
    """Write a project and build it with ``pulpo build``."""
    project = root / name
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    (project / "bench_trace.py").write_text(TRACE_MODULE)
    for filename, text in files.items():
        (project / filename).write_text(text)
    modules = [f.removesuffix(".py") for f in files if not f.startswith("hand_")]
    write_pyproject(project, modules, runners)
    built = subprocess.run(
        [PULPO, "build"],
        cwd=project,
        env=base_env(root / f"{name}-build-home"),
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise MeasurementError(
            f"pulpo build of {name} failed: {tail(built.stderr or built.stdout)}"
        )
    return project


# ---------------------------------------------------------------------------
# Processes: workers, a Prefect server
# ---------------------------------------------------------------------------


class MeasurementError(RuntimeError):
    """A worker, a build or a server failed; the message says why."""


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def base_env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    """This environment with its own Prefect home: ephemeral mode, or ``api_url``."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def ephemeral_env(root: Path, scenario: str) -> dict[str, str]:
    """Prefect's ephemeral mode: each worker process starts its own temporary API."""
    return base_env(root / f"{scenario}-ephemeral-home")


def server_env(root: Path, scenario: str, url: str) -> dict[str, str]:
    """Clients of the server at ``url``, with a Prefect home of their own."""
    return base_env(root / f"{scenario}-client-home", api_url=url)


def run_worker(
    spec: dict[str, Any], env: dict[str, str], scratch: Path, tag: str
) -> Any:
    """Run ``spec`` in a fresh ``flows.py --worker`` process; return what it reports."""
    spec_path, out_path = scratch / f"{tag}.spec.json", scratch / f"{tag}.out.json"
    log_path = scratch / f"{tag}.log"
    out_path.unlink(missing_ok=True)
    spec_path.write_text(json.dumps({**spec, "out": str(out_path)}))
    env = {
        **env,
        "PYTHONPATH": os.pathsep.join([spec["project"], env.get("PYTHONPATH", "")]),
    }
    with log_path.open("w") as log:
        proc = subprocess.run(
            [PYTHON, str(Path(__file__).resolve()), "--worker", str(spec_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    if proc.returncode != 0 or not out_path.exists():
        raise MeasurementError(f"worker {tag} failed:\n{tail(log_path.read_text())}")
    return json.loads(out_path.read_text())


def stop_process_tree(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and the processes it started, by their pids."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    for child in children:
        try:
            child.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        child.kill()


@contextmanager
def prefect_server(scratch: Path) -> Iterator[str]:
    """A ``prefect server start`` on a free port with its own home; yields its API URL."""
    port = free_port()
    home = scratch / f"server-{port}"
    env = base_env(home)
    url = f"http://127.0.0.1:{port}/api"
    with (home / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise MeasurementError(
                    f"prefect server exited: {tail((home / 'server.log').read_text())}"
                )
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise MeasurementError("prefect server did not become healthy in 180 s")
            time.sleep(0.5)
        yield url
    finally:
        stop_process_tree(proc)


# ---------------------------------------------------------------------------
# Worker side (runs in its own process)
# ---------------------------------------------------------------------------


def trace(
    log: Path, deps: dict[str, list[str]] | None, called: float, returned: float
) -> dict[str, float]:
    """From the operations' log: the body's span (first start to last end), the time
    before it (``lead``) and after it (``trail``) within the call, the critical path."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line]
    first, last = min(r["start"] for r in records), max(r["end"] for r in records)
    figures = {
        "span": last - first,
        "lead": first - called,
        "trail": returned - last,
        "pids": len({r["pid"] for r in records}),
    }
    if deps:
        took = {r["op"]: r["end"] - r["start"] for r in records}
        longest: dict[str, float] = {}

        def path(op: str) -> float:
            if op not in longest:
                longest[op] = took[op] + max((path(d) for d in deps[op]), default=0.0)
            return longest[op]

        figures["critical"] = max(path(op) for op in deps)
    return figures


def load(module: str, attr: str) -> Any:
    return getattr(importlib.import_module(module), attr)


def call_once(
    target: Any, params: dict[str, Any], log: Path | None, case: dict[str, Any]
) -> dict[str, float]:
    """Call a flow (or the pool reference) once; its wall time and trace figures."""
    if log is not None:
        params = {**params, "log": str(log)}
    called, started = time.time(), time.perf_counter()
    if inspect.iscoroutinefunction(getattr(target, "fn", target)):
        result = asyncio.run(target(**params))
    else:
        result = target(**params)
    sample: dict[str, float] = {"wall": time.perf_counter() - started}
    returned = time.time()
    expected = case.get("expect")
    if expected is not None and sorted(result) != sorted(expected):
        raise RuntimeError(f"{case['label']}: unexpected result keys {sorted(result)}")
    if log is not None:
        sample.update(trace(log, case.get("deps"), called, returned))
    return sample


def call_retrying(
    target: Any, params: dict[str, Any], log: Path | None, case: dict[str, Any]
) -> dict[str, float]:
    """:func:`call_once`, again (untimed) when a loaded machine's server answers 503."""
    for attempt in range(3):
        try:
            return call_once(target, params, log, case)
        except Exception as error:
            if "503" not in str(error) or attempt == 2:
                raise
            print(f"{case['label']}: server busy (503), calling again", file=sys.stderr)
            time.sleep(case["settle"] + 5)
    raise AssertionError("unreachable")


def worker_alternating(spec: dict[str, Any]) -> dict[str, Any]:
    """Every case: one untimed call per contender, then rounds in alternating order."""
    logs = Path(spec["scratch"]) / "traces"
    logs.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for case in spec["cases"]:
        flows = {name: load(*where) for name, where in case["contenders"].items()}
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in flows}
        order = list(flows)
        for name in order:  # warm-up: Prefect's first flow run, first imports
            call_once(flows[name], case["params"], None, {"label": case["label"]})
        for r in range(case["rounds"]):
            shift = r % len(order)  # each contender in each place in turn
            for name in order[shift:] + order[:shift]:
                log = (
                    logs / f"{case['label']}-{name}-{r}.jsonl" if case["log"] else None
                )
                if log is not None:
                    log.unlink(missing_ok=True)
                time.sleep(case["settle"])
                samples[name].append(
                    call_retrying(flows[name], case["params"], log, case)
                )
        out[case["label"]] = samples
    return out


def pool_reference(ops: Any, seconds: float) -> Callable[..., dict[str, Any]]:
    """multiprocessing.Pool(2) mapping the same two burns; the pool is kept for reuse."""
    import multiprocessing

    pool: list[Any] = []

    def run(log: str) -> dict[str, Any]:
        if not pool:
            pool.append(multiprocessing.Pool(2))
        jobs = [(log, "pool.left", seconds), (log, "pool.right", seconds)]
        left, right = pool[0].starmap(ops.burn_logged, jobs)
        return {"left": left, "right": right}

    return run


def worker_calls(spec: dict[str, Any]) -> dict[str, Any]:
    """One contender, ``calls`` calls in this fresh process after Prefect is up."""
    logs = Path(spec["scratch"]) / "traces"
    logs.mkdir(parents=True, exist_ok=True)
    case = spec["case"]
    if case["kind"] == "pool":
        target: Any = pool_reference(
            importlib.import_module("bench_cpu"), case["seconds"]
        )
    else:
        from prefect import flow

        @flow(name="bench_warmup")
        async def bench_warmup() -> int:
            return 1

        asyncio.run(bench_warmup())  # Prefect's API is up before the first timed call
        target = load(*case["where"])
    samples = []
    for i in range(spec["calls"]):
        log = logs / f"{spec['tag']}-{i}.jsonl"
        log.unlink(missing_ok=True)
        time.sleep(spec["settle"])
        samples.append(call_once(target, case["params"], log, case))
    return {"samples": samples}


def worker_main(spec_path: Path) -> int:
    spec = json.loads(spec_path.read_text())
    sys.path.insert(0, spec["project"])
    work = worker_alternating if spec["mode"] == "alternating" else worker_calls
    result = work(spec)
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------
# Scenarios (parent side)
# ---------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def med(samples: list[dict[str, float]], key: str) -> float:
    return median([s[key] for s in samples if key in s])


def headline(root: Path, repeats: int, settle: float) -> dict[str, Any]:
    project = new_project(
        root,
        "headline",
        {"bench_headline.py": headline_ops(), "hand_flows.py": headline_hand()},
        {},
    )
    cases = [
        {
            "label": v.top,
            "contenders": {
                "pulpo": [f"run_cache.orchestration.{v.top}_flow", f"{v.top}_flow"],
                "hand": ["hand_flows", f"hand_{v.top}_flow"],
            },
            "params": {"delay": 1.0},
            "log": True,
            "deps": v.deps,
            "expect": [*v.deps],
            "rounds": repeats,
            "settle": settle,
        }
        for v in VARIANTS
    ]
    # The untimed warm-up call needs a log too.
    for case in cases:
        case["params"]["log"] = str(root / "headline-warmup.jsonl")
    spec = {
        "mode": "alternating",
        "project": str(project),
        "scratch": str(root),
        "cases": cases,
    }
    out = {
        "ephemeral": run_worker(
            spec, ephemeral_env(root, "headline"), root, "headline-eph"
        )
    }
    with prefect_server(root) as url:
        out["server"] = run_worker(
            spec, server_env(root, "headline", url), root, "headline-srv"
        )
    return out


def overhead_rounds(n: int, repeats: int) -> int:
    """More rounds for small DAGs, whose calls are short and noisier."""
    return repeats * min(5, max(2, 50 // n))


def overhead(
    root: Path,
    repeats: int,
    sizes: list[int],
    settle: float,
    shapes: tuple[str, ...] = ("chain", "fan"),
    modes: tuple[str, ...] = MODES,
) -> dict[str, Any]:
    project = new_project(
        root,
        "overhead",
        {
            "bench_overhead.py": overhead_ops(sizes),
            "hand_flows.py": overhead_hand(sizes),
            "hand_threaded.py": overhead_hand(sizes, threaded=True),
        },
        {},
    )
    cases = [
        {
            "label": f"{shape}{n}",
            "contenders": {
                "pulpo": [
                    f"run_cache.orchestration.{shape}{n}_flow",
                    f"{shape}{n}_flow",
                ],
                "hand": ["hand_flows", f"hand_{shape}{n}_flow"],
                "hand+thread": ["hand_threaded", f"handthr_{shape}{n}_flow"],
            },
            "params": {"seed": 1},
            "log": False,
            "expect": [op_id(shape, n, k)[0] for k in range(n)],
            "rounds": overhead_rounds(n, repeats),
            # the server records a run's task runs after it ends: more runs, longer
            "settle": settle + 0.02 * n,
        }
        for shape in shapes
        for n in sizes
    ]
    spec = {
        "mode": "alternating",
        "project": str(project),
        "scratch": str(root),
        "cases": cases,
    }
    out = {}
    if "ephemeral" in modes:
        out["ephemeral"] = run_worker(
            spec, ephemeral_env(root, "overhead"), root, "overhead-eph"
        )
    if "server" in modes:
        with prefect_server(root) as url:
            out["server"] = run_worker(
                spec, server_env(root, "overhead", url), root, "overhead-srv"
            )
    return out


CPU_CONTENDERS = (
    "pulpo threads",
    "pulpo processes",
    "pulpo dask",
    "Prefect ProcessPoolTaskRunner",
    "prefect-dask DaskTaskRunner",
    "multiprocessing.Pool(2)",
)


def cpu_case(contender: str, seconds: float) -> dict[str, Any]:
    if contender == "multiprocessing.Pool(2)":
        return {"label": contender, "kind": "pool", "seconds": seconds, "params": {}}
    tool, runner = contender.split(" ", 1)
    runner = {"ProcessPoolTaskRunner": "processes", "DaskTaskRunner": "dask"}.get(
        runner, runner
    )
    where = (
        [f"run_cache.orchestration.cpu{runner}_flow", f"cpu{runner}_flow"]
        if tool == "pulpo"
        else ["hand_cpu", f"hand_cpu{runner}_flow"]
    )
    return {
        "label": contender,
        "kind": "flow",
        "where": where,
        "params": {"seconds": seconds},
        "expect": [f"cpu{runner}.left.burn", f"cpu{runner}.right.burn"],
    }


def cpu(
    root: Path, repeats: int, calls: int, settle: float, seconds: float = 1.5
) -> dict[str, Any]:
    project = new_project(
        root,
        "cpu",
        {"bench_cpu.py": cpu_ops(), "hand_cpu.py": cpu_hand()},
        {"cpuprocesses_flow": "processes", "cpudask_flow": "dask"},
    )

    def each_contender(mode: str, env: dict[str, str]) -> dict[str, Any]:
        runs: dict[str, Any] = {c: [] for c in CPU_CONTENDERS}
        for r in range(repeats):
            shift = r % len(CPU_CONTENDERS)
            for i in [*range(shift, len(CPU_CONTENDERS)), *range(shift)]:
                tag = f"cpu-{mode}-{r}-{i}"
                spec = {
                    "mode": "calls",
                    "project": str(project),
                    "scratch": str(root),
                    "tag": tag,
                    "calls": calls,
                    "settle": settle,
                    "case": cpu_case(CPU_CONTENDERS[i], seconds),
                }
                got = run_worker(spec, env, root, tag)
                runs[CPU_CONTENDERS[i]].append(got["samples"])
        return runs

    with prefect_server(root) as url:
        out = {"server": each_contender("srv", server_env(root, "cpu", url))}
    out["ephemeral"] = each_contender("eph", ephemeral_env(root, "cpu"))
    return out


def cli(root: Path, repeats: int) -> dict[str, Any]:
    """``pulpo prefect run`` (whatever services it uses) and hand-written script runs."""
    keywords = "python"
    out: dict[str, Any] = {}
    with ExitStack() as stack:
        project, env = stack.enter_context(example_copy())
        url = stack.enter_context(prefect_server(root))
        env = {**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        (project / "hand_scraping.py").write_text(SCRAPING_HAND)
        pulpo_run = [
            PULPO,
            "prefect",
            "run",
            "scraping_flow",
            "--param",
            f"keywords={keywords}",
        ]
        hand_run = [PYTHON, "hand_scraping.py", keywords]
        contenders = {
            "pulpo prefect run (as is)": (pulpo_run, env),
            "hand-written, server": (
                hand_run,
                {**env, "PREFECT_API_URL": url, "PREFECT_HOME": str(root / "hand-srv")},
            ),
            "hand-written, ephemeral": (
                hand_run,
                {**env, "PREFECT_HOME": str(root / "hand-eph")},
            ),
            "pulpo prefect run, same server": (
                pulpo_run,
                {
                    **env,
                    "PREFECT_API_URL": url,
                    "PREFECT_HOME": str(root / "pulpo-srv"),
                },
            ),
        }

        def timed(cmd: list[str], run_env: dict[str, str]) -> tuple[float, Any]:
            started = time.perf_counter()
            proc = subprocess.run(
                cmd,
                cwd=project,
                env=run_env,
                capture_output=True,
                text=True,
                check=False,
            )
            wall = time.perf_counter() - started
            if proc.returncode != 0:
                raise MeasurementError(
                    f"{cmd[:3]} failed: {tail(proc.stderr or proc.stdout)}"
                )
            return wall, json.loads(proc.stdout)

        try:
            subprocess.run(
                [PULPO, "build"], cwd=project, env=env, check=True, capture_output=True
            )
            first = {}
            results = {}
            for name, (cmd, run_env) in contenders.items():
                first[name], results[name] = timed(cmd, run_env)
            reference = results["pulpo prefect run (as is)"]
            same = {name: value == reference for name, value in results.items()}
            walls: dict[str, list[float]] = {name: [] for name in contenders}
            names = list(contenders)
            for r in range(repeats):
                shift = r % len(names)
                for name in names[shift:] + names[:shift]:
                    walls[name].append(timed(*contenders[name])[0])
            status = subprocess.run(
                [PULPO, "status", "--json"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            out = {
                "first": first,
                "walls": walls,
                "same_result": same,
                "status_after": status.stdout,
            }
        finally:
            down = subprocess.run(
                [PULPO, "down"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            out["down"] = (down.stdout + down.stderr).strip()
    return out


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def verdict(value: float, limit: float) -> str:
    if math.isnan(value):
        return "SKIP (missing data)"
    return "PASS" if value <= limit else "MISS"


def target_line(label: str, value: float, limit: float) -> None:
    shown = "n/a" if math.isnan(value) else f"{value:.3f}"
    print(f"  {label:<58} {shown:>7}   target <= {limit:<5g} {verdict(value, limit)}")


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def report_headline(data: dict[str, Any]) -> None:
    print("\nHeadline DAGs (1 s per fetcher; seconds, medians):")
    rows = []
    for mode in MODES:
        for v in VARIANTS:
            s = data[mode][v.top]
            rows.append(
                [mode, v.label]
                + [f"{med(s[c], k):.3f}" for c in CONTENDERS for k in ("wall", "span")]
                + [
                    f"{med(s['pulpo'], 'critical'):.3f}",
                    f"{median([x['span'] / x['critical'] for x in s['pulpo']]):.3f}",
                    f"{median([x['span'] / x['critical'] for x in s['hand']]):.3f}",
                    f"{med(s['pulpo'], 'wall') / med(s['hand'], 'wall'):.3f}",
                ]
            )
    table(
        [
            "mode",
            "DAG",
            "pulpo call",
            "pulpo body",
            "hand call",
            "hand body",
            "critical",
            "pulpo body/crit",
            "hand body/crit",
            "call pulpo/hand",
        ],
        rows,
    )
    print("Targets:")
    for mode in MODES:
        for v in VARIANTS:
            s = data[mode][v.top]
            ratio = median([x["span"] / x["critical"] for x in s["pulpo"]])
            target_line(f"{mode}: {v.top}_flow body wall / critical path", ratio, 1.15)


def report_overhead(
    data: dict[str, Any], sizes: list[int], shapes: tuple[str, ...] = ("chain", "fan")
) -> None:
    print("\nPer-task overhead (trivial operations; seconds per flow call, medians):")
    rows = []
    for mode in (m for m in MODES if m in data):
        for shape in shapes:
            for n in sizes:
                s = data[mode][f"{shape}{n}"]
                p, h = med(s["pulpo"], "wall"), med(s["hand"], "wall")
                t = med(s.get("hand+thread", []), "wall")
                rows.append(
                    [
                        mode,
                        shape,
                        str(n),
                        f"{p:.3f}",
                        f"{h:.3f}",
                        f"{t:.3f}",
                        f"{1000 * p / n:.1f}",
                        f"{1000 * h / n:.1f}",
                        f"{p / h:.3f}",
                        f"{p / t:.3f}",
                        str(len(s["pulpo"])),
                    ]
                )
    table(
        [
            "mode",
            "shape",
            "N",
            "pulpo s",
            "hand s",
            "hand+thread s",
            "pulpo ms/op",
            "hand ms/op",
            "pulpo/hand",
            "pulpo/hand+thread",
            "calls",
        ],
        rows,
    )
    print("Targets:")
    for row in rows:
        target_line(
            f"{row[0]} {row[1]} of {row[2]}: pulpo / hand-written", float(row[8]), 1.1
        )
    print(
        "Like for like (the hand-written tasks run the sync functions in threads too):"
    )
    for row in rows:
        target_line(
            f"{row[0]} {row[1]} of {row[2]}: pulpo / hand+thread", float(row[9]), 1.1
        )


def report_cpu(data: dict[str, Any]) -> None:
    print(
        "\nCPU-bound (2 x 1.5 s of CPU; seconds per call, medians over fresh processes):"
    )
    rows = []
    ratios: dict[tuple[str, str, str], float] = {}
    for mode in MODES:
        runs = data[mode]
        first = {c: median([r[0]["wall"] for r in runs[c]]) for c in CPU_CONTENDERS}
        later = {
            c: median([x["wall"] for r in runs[c] for x in r[1:]])
            for c in CPU_CONTENDERS
        }
        span = {
            c: median([x["span"] for r in runs[c] for x in r[1:]])
            for c in CPU_CONTENDERS
        }
        lead = {
            c: median([x["lead"] for r in runs[c] for x in r[1:]])
            for c in CPU_CONTENDERS
        }
        pids = {c: max(x["pids"] for r in runs[c] for x in r) for c in CPU_CONTENDERS}
        for c in CPU_CONTENDERS:
            ratios[mode, c, "first"] = first[c] / first["pulpo threads"]
            ratios[mode, c, "later"] = later[c] / later["pulpo threads"]
            rows.append(
                [
                    mode,
                    c,
                    f"{first[c]:.2f}",
                    f"{later[c]:.2f}",
                    f"{lead[c]:.2f}",
                    f"{span[c]:.2f}",
                    f"{ratios[mode, c, 'first']:.2f}",
                    f"{ratios[mode, c, 'later']:.2f}",
                    str(pids[c]),
                ]
            )
    table(
        [
            "mode",
            "contender",
            "first call",
            "later calls",
            "later: before burns",
            "later: burns span",
            "first / threads",
            "later / threads",
            "pids",
        ],
        rows,
    )
    print("Targets (on 2 cores):")
    for mode in MODES:
        for c in ("pulpo processes", "pulpo dask"):
            for when in ("first", "later"):
                target_line(
                    f"{mode}: {c}, {when} call / threads", ratios[mode, c, when], 0.6
                )


def running(status_json: str) -> str:
    """The services ``pulpo status --json`` reports running, as text."""
    try:
        services = json.loads(status_json)
    except ValueError:
        return status_json.strip()[:200] or "(no answer)"
    up = [f"{s['name']} (pid {s['pid']})" for s in services if s["state"] == "running"]
    return ", ".join(up) or "nothing"


def report_cli(data: dict[str, Any]) -> None:
    print(
        "\nexamples/jobhunter scraping_flow from the command line (seconds, medians):"
    )
    walls = {name: median(v) for name, v in data["walls"].items()}
    rows = [
        [
            name,
            f"{data['first'][name]:.2f}",
            f"{walls[name]:.2f}",
            str(len(data["walls"][name])),
            str(data["same_result"][name]),
        ]
        for name in data["walls"]
    ]
    table(["run", "first run", "later runs", "runs", "same result"], rows)
    print(f"  running after the runs (pulpo status): {running(data['status_after'])}")

    print(f"  pulpo down: {data['down'][:300] or '(no output)'}")
    print("Targets:")
    target_line(
        "pulpo prefect run / hand-written script on a server",
        walls["pulpo prefect run (as is)"] / walls["hand-written, server"],
        1.5,
    )
    print(
        "  (context: pulpo on the same server / hand-written on it: "
        f"{walls['pulpo prefect run, same server'] / walls['hand-written, server']:.3f}; "
        "pulpo as is / hand-written ephemeral: "
        f"{walls['pulpo prefect run (as is)'] / walls['hand-written, ephemeral']:.3f})"
    )


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def machine_line() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Prefect {version('prefect')}, prefect-dask {version('prefect-dask')}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed rounds per contender (median)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="sizes 10 and 50 only, fewer CPU calls"
    )
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="overhead DAG sizes (default 10 50 200)"
    )
    parser.add_argument(
        "--shapes",
        nargs="+",
        choices=("chain", "fan"),
        default=["chain", "fan"],
        help="overhead DAG shapes",
    )
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="overhead modes"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=3.0,
        help="idle seconds before each timed call, so the server has recorded the last run",
    )
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--json", type=Path, help="also write the raw figures to FILE")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    sizes = args.sizes or ([10, 50] if args.quick else [10, 50, 200])
    shapes, modes = tuple(args.shapes), tuple(args.modes)
    calls = 2 if args.quick else 3
    steps: dict[str, Callable[[], Any]] = {
        "headline": lambda: headline(root, args.repeats, args.settle),
        "overhead": lambda: overhead(
            root, args.repeats, sizes, args.settle, shapes, modes
        ),
        "cpu": lambda: cpu(root, args.repeats, calls, args.settle),
        "cli": lambda: cli(root, args.repeats),
    }
    reports: dict[str, Callable[[Any], None]] = {
        "headline": report_headline,
        "overhead": lambda d: report_overhead(d, sizes, shapes),
        "cpu": report_cpu,
        "cli": report_cli,
    }
    results: dict[str, Any] = {}
    for name in args.only:
        print(f"measuring {name} ...", flush=True)
        started = time.perf_counter()
        try:
            results[name] = steps[name]()
        except (MeasurementError, subprocess.SubprocessError) as error:
            print(f"  ! {name} failed:\n    " + str(error).replace("\n", "\n    "))
            continue
        print(f"  {name} took {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\n{machine_line()} (at the end)")
    for name, data in results.items():
        reports[name](data)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    print(f"python: {PYTHON}\n{machine_line()} (at the start)")
    if args.repeats < 3:
        print("note: medians need --repeats 3 or more to mean much")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = run(args, args.keep.resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="pulpo-flows-") as tmp:
            results = run(args, Path(tmp))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
