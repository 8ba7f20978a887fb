"""Find, build and import a project's generated flows for tests, once per process.

The build runs in a child process, and only when the sources changed since the last
one (the fingerprint ``pulpo prefect run`` checks). A build in this process would
re-import the project's modules, and a test that imported ``app.models.Item`` before
would then compare its ``Item`` with instances of another class of the same name.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pulpo.errors import ProjectError, RunError
from pulpo.project import Project
from pulpo.resources import ResourceSpec, resource_spec

_BUILD = """\
import sys
from pulpo import CLI, PulpoError
try:
    CLI(sys.argv[1]).compile()
except PulpoError as error:
    print(error.message, file=sys.stderr)
    sys.exit(3)
"""
_LOCK = threading.Lock()
_LOADED: dict[Path, LoadedProject] = {}


@dataclass(frozen=True)
class FlowParts:
    """One generated flow and the code a test run of it goes through."""

    name: str
    flow: Any  # the Prefect flow object
    task_runner: str
    # The generated modules the run executes: the flow's and those of the flows it
    # runs for its inputs (their module globals refer to the user's functions).
    modules: tuple[ModuleType, ...]
    # Operation name → the user's function, for every operation of the run.
    operations: Mapping[str, Callable[..., Any]]


@dataclass(frozen=True)
class LoadedProject:
    """A project whose flows are built and whose generated modules are importable."""

    project: Project
    graph: Mapping[str, Any]  # graph.json of the build

    @property
    def flow_names(self) -> list[str]:
        return [flow["name"] for flow in self.graph["flows"]]

    def flow(self, name: str) -> FlowParts:
        """The flow ``name``, its modules imported.

        Raises:
            RunError: no flow of that name (did-you-mean).
        """
        flows = {flow["name"]: flow for flow in self.graph["flows"]}
        if name not in flows:
            raise RunError.unknown_flow(name, list(flows))
        chain = [flows[name]]
        while chain[-1].get("runs_flow"):
            chain.append(flows[chain[-1]["runs_flow"]])
        in_run = {flow["name"] for flow in chain}
        functions = {
            op["name"]: _function(op["function"])
            for op in self.graph["operations"]
            if op["flow"] in in_run
        }
        modules = tuple(self._module(flow["module"]) for flow in chain)
        return FlowParts(
            name=name,
            flow=getattr(modules[0], name),
            task_runner=chain[0].get("task_runner", "threads"),
            modules=modules,
            operations=functions,
        )

    @property
    def operation_names(self) -> list[str]:
        return [op["name"] for op in self.graph["operations"]]

    def resources(self) -> dict[str, ResourceSpec]:
        """Every ``@resource`` in the project's modules, by name."""
        found: dict[str, ResourceSpec] = {}
        for name in self.project.modules:
            prefix = f"{name}."
            for key, module in list(sys.modules.items()):
                if module is None or not (key == name or key.startswith(prefix)):
                    continue
                for value in list(vars(module).values()):
                    spec = resource_spec(value)
                    if spec is not None:
                        found[spec.name] = spec
        return found

    def _module(self, name: str) -> ModuleType:
        full = f"run_cache.orchestration.{name}"
        _forget_other_run_cache(self.project)
        try:
            return importlib.import_module(full)
        except ImportError as error:
            raise ProjectError(
                f"cannot import the generated module {full} ({error}); run `pulpo "
                f"build` in {self.project.root} to see why"
            ) from None


def load_project(start: str | Path | None = None) -> LoadedProject:
    """The project at ``start`` (or above it), built if stale and importable.

    Loaded once per process: later calls reuse it.

    Raises:
        ProjectError: no project there, or its build failed (the build's message).
    """
    project = Project.find(start)
    with _LOCK:
        loaded = _LOADED.get(project.root)
        if loaded is None:
            _build_if_stale(project)
            root = str(project.root)
            if root not in sys.path:
                sys.path.insert(0, root)
            for name in project.modules:  # as the generated modules will
                importlib.import_module(name)
            loaded = _LOADED[project.root] = LoadedProject(project, _graph(project))
        return loaded


def _build_if_stale(project: Project) -> None:
    from pulpo import fingerprint

    if fingerprint.is_fresh(project):
        return
    completed = subprocess.run(
        [sys.executable, "-c", _BUILD, str(project.root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
    )
    if completed.returncode == 3:
        raise ProjectError(completed.stderr.strip().splitlines()[-1])
    if completed.returncode != 0:
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        raise ProjectError(
            f"building {project.root} for the test failed (exit code "
            f"{completed.returncode}); run `pulpo build` there to see why:\n{tail}"
        )


def _graph(project: Project) -> dict[str, Any]:
    path = project.orchestration_dir / "graph.json"
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise RunError(
            f"cannot read the generated flows in {path} ({error}); run `pulpo build`"
        ) from None
    return data


def _function(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.rpartition(".")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _forget_other_run_cache(project: Project) -> None:
    """Drop another project's ``run_cache`` package (the name is the same in every
    project) so that the import below finds this project's."""
    loaded = sys.modules.get("run_cache")
    where = getattr(loaded, "__file__", None) or ""
    if loaded is not None and not where.startswith(str(project.root) + os.sep):
        for name in [n for n in sys.modules if n.split(".")[0] == "run_cache"]:
            del sys.modules[name]
