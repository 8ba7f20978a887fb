"""Compile-time scaling figures for pulpo, compared with importing and with Kedro.

For each requested size N this script generates a synthetic pulpo project with N
operations spread over a number of top-level namespaces (``ns000``, ``ns001``, ...),
then measures, each in a fresh subprocess:

* importing the user modules alone (pydantic and pulpo are imported first, untimed);
* ``CLI(project_dir).build()`` broken into import / analysis / codegen / write, as
  reported by the build result, plus the wall time of a ``pulpo build`` subprocess;
* constructing a ``kedro.pipeline.Pipeline`` with one node per operation and the
  same data-flow graph (node objects are created first; only ``Pipeline([...])`` is
  timed as the headline figure, the toposort Kedro defers is timed separately).

Graph shape: every namespace is a chain (op k consumes the output of op k-1), and
every op with ``k % 10 == 9`` also consumes the output of op k in the previous
namespace. Edges only go to the same or a higher namespace, so the graph is acyclic.

Usage::

    python benchmarks/compile_scaling.py [--sizes 1000 10000] [--namespaces 100]
                                         [--repeats 1] [--keep DIR]

This is a figures script, not a test: it prints PASS/MISS against the targets but
always exits 0.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NAMESPACES_PER_MODULE = 10
CROSS_EVERY = 10
MODULE_PREFIX = "bench_ops"
SUBPROCESS_TIMEOUT_S = 1800
BUILD_OUTPUT_DIRS = ("run_cache",)

# ---------------------------------------------------------------------------
# Synthetic graph
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpSpec:
    """One synthetic operation and the model it outputs."""

    namespace: str
    index: int
    width: int
    prev: OpSpec | None = None
    cross: OpSpec | None = None

    @property
    def short_name(self) -> str:
        return f"step{self.index:0{self.width}d}"

    @property
    def name(self) -> str:
        return f"{self.namespace}.{self.short_name}"

    @property
    def func_name(self) -> str:
        return f"{self.namespace}_{self.short_name}"

    @property
    def model(self) -> str:
        return f"M_{self.namespace}_{self.index:0{self.width}d}"

    @property
    def model_inputs(self) -> dict[str, str]:
        """Parameter name -> consumed model name."""
        inputs = {"prev": self.prev, "cross": self.cross}
        return {param: op.model for param, op in inputs.items() if op is not None}

    @property
    def plain_params(self) -> dict[str, str]:
        """Parameter name -> default value source, for non-model parameters."""
        return {"seed": "1"} if self.prev is None else {}


@dataclass
class SyntheticGraph:
    """Operations grouped by namespace, in namespace order."""

    namespaces: list[list[OpSpec]]

    @property
    def ops(self) -> list[OpSpec]:
        return [op for chain in self.namespaces for op in chain]

    @property
    def n_edges(self) -> int:
        return sum(len(op.model_inputs) for op in self.ops)


def chain_lengths(n_ops: int, n_namespaces: int) -> list[int]:
    """Spread ``n_ops`` over ``n_namespaces`` as evenly as possible."""
    base, extra = divmod(n_ops, n_namespaces)
    return [base + (1 if i < extra else 0) for i in range(n_namespaces)]


def build_graph(n_ops: int, n_namespaces: int) -> SyntheticGraph:
    lengths = chain_lengths(n_ops, n_namespaces)
    width = max(4, len(str(max(lengths) - 1)))
    namespaces: list[list[OpSpec]] = []
    for ns_index, length in enumerate(lengths):
        ns_name = f"ns{ns_index:03d}"
        previous_ns = namespaces[-1] if namespaces else []
        chain: list[OpSpec] = []
        for k in range(length):
            wants_cross = k % CROSS_EVERY == CROSS_EVERY - 1 and k < len(previous_ns)
            chain.append(
                OpSpec(
                    namespace=ns_name,
                    index=k,
                    width=width,
                    prev=chain[-1] if chain else None,
                    cross=previous_ns[k] if wants_cross else None,
                )
            )
        namespaces.append(chain)
    return SyntheticGraph(namespaces=namespaces)


# ---------------------------------------------------------------------------
# Project generation
# ---------------------------------------------------------------------------


def module_name(module_index: int) -> str:
    return f"{MODULE_PREFIX}_{module_index:02d}"


def render_op(op: OpSpec) -> str:
    model_params = [f"{p}: {m}" for p, m in op.model_inputs.items()]
    plain_params = [f"{p}: int = {d}" for p, d in op.plain_params.items()]
    signature = ", ".join(model_params + plain_params)
    inputs = (
        "[" + ", ".join(op.model_inputs.values()) + "]" if op.model_inputs else "None"
    )
    value_terms = [f"{p}.value" for p in op.model_inputs] + list(op.plain_params)
    return (
        f'@datamodel(name="{op.model}")\n'
        f"class {op.model}(BaseModel):\n"
        f"    value: int = 0\n"
        f"\n\n"
        f'@operation(name="{op.name}", inputs={inputs}, outputs={op.model})\n'
        f"def {op.func_name}({signature}) -> {op.model}:\n"
        f"    return {op.model}(value={' + '.join(value_terms)} + 1)\n"
    )


def render_module(chains: list[list[OpSpec]], foreign: dict[str, list[str]]) -> str:
    """Render one module; ``foreign`` maps module name -> models imported from it."""
    header = [
        f'"""Synthetic pulpo benchmark module (generated by {Path(__file__).name})."""',
        "",
        "from pydantic import BaseModel",
        "",
        "from pulpo import datamodel, operation",
    ]
    for source, models in sorted(foreign.items()):
        header.append(f"from {source} import {', '.join(models)}")
    bodies = [render_op(op) for chain in chains for op in chain]
    return "\n".join(header) + "\n\n\n" + "\n\n".join(bodies)


def render_pyproject(n_ops: int, modules: list[str]) -> str:
    module_list = ", ".join(f'"{m}"' for m in modules)
    return (
        "[project]\n"
        f'name = "pulpo-bench-n{n_ops}"\n'
        'version = "0.0.0"\n'
        "\n"
        "[tool.pulpo]\n"
        f"modules = [{module_list}]\n"
    )


def foreign_models(
    chains: list[list[OpSpec]], owner: dict[str, str]
) -> dict[str, list[str]]:
    """Models consumed by ``chains`` that are defined in another module."""
    home = owner[chains[0][0].namespace] if chains and chains[0] else ""
    foreign: dict[str, list[str]] = {}
    for op in (op for chain in chains for op in chain):
        if op.cross is not None and owner[op.cross.namespace] != home:
            foreign.setdefault(owner[op.cross.namespace], []).append(op.cross.model)
    return foreign


def write_project(graph: SyntheticGraph, project_dir: Path) -> list[str]:
    """Write the modules and pyproject.toml; return the module names."""
    shutil.rmtree(project_dir, ignore_errors=True)
    project_dir.mkdir(parents=True)
    groups = [
        graph.namespaces[i : i + NAMESPACES_PER_MODULE]
        for i in range(0, len(graph.namespaces), NAMESPACES_PER_MODULE)
    ]
    owner = {
        chain[0].namespace: module_name(g)
        for g, group in enumerate(groups)
        for chain in group
        if chain
    }
    modules = [module_name(g) for g in range(len(groups))]
    for name, group in zip(modules, groups, strict=True):
        source = render_module(group, foreign_models(group, owner))
        (project_dir / f"{name}.py").write_text(source)
    (project_dir / "pyproject.toml").write_text(
        render_pyproject(len(graph.ops), modules)
    )
    compileall.compile_dir(project_dir, quiet=1)  # warm .pyc so every run sees the same
    return modules


def kedro_spec(graph: SyntheticGraph) -> list[dict[str, object]]:
    """Describe the same data-flow graph as plain data, for the Kedro subprocess."""
    spec: list[dict[str, object]] = []
    for op in graph.ops:
        inputs = dict(op.model_inputs)
        inputs.update({p: f"params:{p}" for p in op.plain_params})
        spec.append(
            {
                "namespace": op.namespace,
                "name": op.short_name,
                "inputs": inputs,
                "output": op.model,
            }
        )
    return spec


# ---------------------------------------------------------------------------
# Subprocess drivers (run with the same interpreter, fresh each time)
# ---------------------------------------------------------------------------

IMPORT_DRIVER = """
import importlib, json, sys, time
project, modules = sys.argv[1], sys.argv[2:]
sys.path.insert(0, project)
t0 = time.perf_counter()
import pydantic, pulpo
t1 = time.perf_counter()
for name in modules:
    importlib.import_module(name)
t2 = time.perf_counter()
print(json.dumps({"deps_import_s": t1 - t0, "user_import_s": t2 - t1}))
"""

BUILD_DRIVER = """
import json, sys, time
from pulpo import CLI
t0 = time.perf_counter()
result = CLI(project_dir=sys.argv[1]).build()
t1 = time.perf_counter()
fields = ("import_seconds", "analysis_seconds", "flows_seconds", "codegen_seconds", "write_seconds")
out = {f: float(getattr(result, f, float("nan"))) for f in fields}
out["in_process_s"] = t1 - t0
print(json.dumps(out))
"""

KEDRO_DRIVER = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from kedro.pipeline import Pipeline, node

def _op(**inputs):
    return None

spec_path, variant = sys.argv[1], sys.argv[2]
spec = json.loads(open(spec_path).read())
namespaced = variant == "ns"
t0 = time.perf_counter()
nodes = [
    node(
        _op,
        inputs=op["inputs"],
        outputs=op["output"],
        name=op["name"] if namespaced else op["namespace"] + "." + op["name"],
        namespace=op["namespace"] if namespaced else None,
    )
    for op in spec
]
t1 = time.perf_counter()
pipeline = Pipeline(nodes)
t2 = time.perf_counter()
ordered = pipeline.nodes  # toposort; Kedro defers it unless nodes have namespaces
t3 = time.perf_counter()
assert len(ordered) == len(spec), (len(ordered), len(spec))
print(json.dumps({
    f"{variant}_node_objects_s": t1 - t0,
    f"{variant}_pipeline_s": t2 - t1,
    f"{variant}_toposort_s": t3 - t2,
}))
"""


class MeasurementError(RuntimeError):
    """A measurement subprocess failed; the message says why."""


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    existing = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), existing]))
    return env


def tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_json(cmd: list[str], cwd: Path | None = None) -> dict[str, float]:
    """Run ``cmd`` and parse the JSON object on the last line of its stdout."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise MeasurementError(tail(proc.stderr or proc.stdout))
    try:
        figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise MeasurementError(f"no JSON on stdout: {tail(proc.stdout)!r}") from exc
    return figures


def fresh_copy(project_dir: Path, dest: Path) -> Path:
    """Copy the pristine project (mtimes kept, so .pyc stay valid)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(project_dir, dest)
    for name in BUILD_OUTPUT_DIRS:
        shutil.rmtree(dest / name, ignore_errors=True)
    return dest


def measure_import(project_dir: Path, modules: list[str]) -> dict[str, float]:
    return run_json([sys.executable, "-c", IMPORT_DRIVER, str(project_dir), *modules])


def measure_build(project_dir: Path, scratch: Path) -> dict[str, float]:
    run_dir = fresh_copy(project_dir, scratch / "build_api")
    return run_json([sys.executable, "-c", BUILD_DRIVER, str(run_dir)])


def pulpo_executable() -> str:
    candidate = Path(sys.executable).with_name("pulpo")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("pulpo")
    if found is None:
        raise MeasurementError("no `pulpo` console script next to python or on PATH")
    return found


def measure_build_cli(project_dir: Path, scratch: Path) -> dict[str, float]:
    exe = pulpo_executable()
    run_dir = fresh_copy(project_dir, scratch / "build_cli")
    start = time.perf_counter()
    proc = subprocess.run(
        [exe, "build"],
        cwd=run_dir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise MeasurementError(tail(proc.stderr or proc.stdout))
    return {"cli_wall_s": wall}


def measure_kedro(spec_path: Path, variant: str) -> dict[str, float]:
    """Time Kedro, variant ``ns`` (node namespaces) or ``flat`` (dotted names)."""
    return run_json([sys.executable, "-c", KEDRO_DRIVER, str(spec_path), variant])


# ---------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------


@dataclass
class SizeResult:
    n_ops: int
    n_edges: int
    n_modules: int
    figures: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> float:
        return self.figures.get(key, math.nan)

    @property
    def own_share(self) -> float:
        keys = ("analysis_seconds", "flows_seconds", "codegen_seconds", "write_seconds")
        return sum(self.get(k) for k in keys)

    @property
    def kedro_strict(self) -> float:
        """The faster of the two Kedro constructions (the stricter comparison)."""
        values = [self.get("ns_pipeline_s"), self.get("flat_pipeline_s")]
        known = [v for v in values if not math.isnan(v)]
        return min(known) if known else math.nan


def best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per-figure minimum over repeated runs."""
    best: dict[str, float] = {}
    for run in runs:
        for key, value in run.items():
            best[key] = min(value, best.get(key, math.inf))
    return best


def measure_size(n_ops: int, n_namespaces: int, root: Path, repeats: int) -> SizeResult:
    graph = build_graph(n_ops, n_namespaces)
    size_dir = root / f"n{n_ops}"
    project_dir = size_dir / "project"
    modules = write_project(graph, project_dir)
    spec_path = size_dir / "kedro_graph.json"
    spec_path.write_text(json.dumps(kedro_spec(graph)))
    result = SizeResult(n_ops=n_ops, n_edges=graph.n_edges, n_modules=len(modules))
    scratch = size_dir / "runs"
    measurements: dict[str, Callable[[], dict[str, float]]] = {
        "user import": lambda: measure_import(project_dir, modules),
        "CLI.build()": lambda: measure_build(project_dir, scratch),
        "`pulpo build`": lambda: measure_build_cli(project_dir, scratch),
        "kedro (namespaced nodes)": lambda: measure_kedro(spec_path, "ns"),
        "kedro (flat dotted names)": lambda: measure_kedro(spec_path, "flat"),
    }
    for label, measure in measurements.items():
        print(f"  N={n_ops}: measuring {label} ...", flush=True)
        try:
            runs = [measure() for _ in range(repeats)]
        except (MeasurementError, subprocess.TimeoutExpired) as exc:
            result.errors[label] = str(exc)
            print(f"    ! {label} failed:\n      " + str(exc).replace("\n", "\n      "))
            continue
        result.figures.update(best_of(runs))
    return result


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

COLUMNS: list[tuple[str, str]] = [
    ("user import s", "user_import_s"),
    ("build import s", "import_seconds"),
    ("analysis s", "analysis_seconds"),
    ("flows s", "flows_seconds"),
    ("codegen s", "codegen_seconds"),
    ("write s", "write_seconds"),
    ("own share s", "own_share"),
    ("`pulpo build` wall s", "cli_wall_s"),
    ("kedro Pipeline s", "ns_pipeline_s"),
    ("kedro flat s", "flat_pipeline_s"),
    ("kedro flat toposort s", "flat_toposort_s"),
]


def fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def column_value(result: SizeResult, key: str) -> float:
    return result.own_share if key == "own_share" else result.get(key)


def print_table(results: list[SizeResult]) -> None:
    headers = ["N", "edges"] + [title for title, _ in COLUMNS]
    rows = [
        [str(r.n_ops), str(r.n_edges)]
        + [fmt(column_value(r, key)) for _, key in COLUMNS]
        for r in results
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)
    ]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))


def verdict(value: float, limit: float) -> str:
    if math.isnan(value):
        return "SKIP (missing data)"
    return "PASS" if value <= limit else "MISS"


def print_ratio(label: str, value: float, limit: float, target: str) -> None:
    shown = "n/a" if math.isnan(value) else f"{value:.3f}"
    print(f"  {label:<48} {shown:>8}   target {target:<10} {verdict(value, limit)}")


def print_ratios(results: list[SizeResult]) -> None:
    small, large = results[0], results[-1]
    print(f"\nRatios (at N={large.n_ops} unless stated):")
    print_ratio(
        "pulpo own share / user import",
        large.own_share / large.get("user_import_s"),
        0.3,
        "<= 0.3",
    )
    print_ratio(
        "pulpo analysis / kedro Pipeline (faster variant)",
        large.get("analysis_seconds") / large.kedro_strict,
        1.0,
        "<= 1.0",
    )
    print_ratio(
        "pulpo analysis + flows / kedro Pipeline (namespaced)",
        (large.get("analysis_seconds") + large.get("flows_seconds"))
        / large.get("ns_pipeline_s"),
        1.0,
        "<= 1.0",
    )
    if large.n_ops == small.n_ops:
        print("  own-share growth: needs at least two distinct sizes")
        return
    size_ratio = large.n_ops / small.n_ops
    growth = large.own_share / small.own_share
    print_ratio(
        f"own-share growth N={small.n_ops}->{large.n_ops} (x)",
        growth,
        1.5 * size_ratio,
        f"~{size_ratio:g}x",
    )
    print(f"    (near-linear: at most 1.5x the size ratio, <= {1.5 * size_ratio:g}x)")


def print_errors(results: list[SizeResult]) -> None:
    failed = {label for r in results for label in r.errors}
    if not failed:
        return
    print("\nSome measurements did not run:")
    for label in sorted(failed):
        first = next(r.errors[label] for r in results if label in r.errors)
        summary = first.strip().splitlines()[-1] if first.strip() else "(no output)"
        print(f"  - {label}: {summary}")
    if {"user import", "CLI.build()", "`pulpo build`"} & failed:
        print(
            "  pulpo could not import or build the synthetic project; check that "
            f"`pulpo` (with CLI, datamodel, operation) is importable from {REPO_ROOT}."
        )


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="best-of-R per figure")
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it")
    args = parser.parse_args(argv)
    if min(args.sizes) < args.namespaces:
        parser.error(
            "every size must be >= --namespaces (one op per namespace at least)"
        )
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def run(sizes: list[int], n_namespaces: int, root: Path, repeats: int) -> None:
    results: list[SizeResult] = []
    for n_ops in sorted(set(sizes)):
        results.append(measure_size(n_ops, n_namespaces, root, repeats))
    print(f"\nCompile scaling ({n_namespaces} namespaces, best of {repeats}):\n")
    print_table(results)
    print_ratios(results)
    print_errors(results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"python: {sys.executable}")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.sizes, args.namespaces, args.keep.resolve(), args.repeats)
        print(f"\nGenerated projects kept in {args.keep.resolve()}")
    else:
        with tempfile.TemporaryDirectory(prefix="pulpo-bench-") as tmp:
            run(args.sizes, args.namespaces, Path(tmp), args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
