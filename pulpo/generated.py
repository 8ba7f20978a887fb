"""The flows a build generated, read back from ``run_cache/orchestration/``.

``pulpo prefect run`` uses this instead of the compiler: ``graph.json`` names each
flow's module, parameters and the flows it runs; the generated flow function's own
signature gives the parameters' types once its module is imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pulpo.errors import RunError
from pulpo.project import Project
from pulpo.runtime.parameters import ParameterSlot


@dataclass(frozen=True)
class BuiltFlow:
    """One generated flow.

    ``parameters`` are typed ``Any`` until :meth:`typed` reads the flow function's
    annotations; names and required-ness can be checked before that.
    """

    name: str
    module: str
    parameters: tuple[ParameterSlot, ...]
    runs: tuple[str, ...]  # the flow whose body it awaits for its inputs, if any
    task_runner: str = "threads"

    def typed(self, flow: Any) -> tuple[ParameterSlot, ...]:
        """The parameters with the annotations of the Prefect flow object ``flow``."""
        from pulpo.runtime.execution import slots_of

        annotations = {slot.name: slot.annotation for slot in slots_of(flow)}
        return tuple(
            replace(slot, annotation=annotations.get(slot.name, Any))
            for slot in self.parameters
        )


def built_flows(project: Project) -> dict[str, BuiltFlow]:
    """Every flow in the project's ``graph.json``, by name.

    Raises:
        RunError: there is no readable ``graph.json`` (run ``pulpo build``).
    """
    path = project.orchestration_dir / "graph.json"
    try:
        flows = json.loads(path.read_bytes())["flows"]
        return {
            data["name"]: BuiltFlow(
                name=data["name"],
                module=data["module"],
                parameters=tuple(
                    ParameterSlot(
                        p["name"], Any, bool(p["required"]), tuple(p["operations"])
                    )
                    for p in data["parameters"]
                ),
                runs=(data["runs_flow"],) if data.get("runs_flow") else (),
                task_runner=data.get("task_runner", "threads"),
            )
            for data in flows
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunError(
            f"cannot read the generated flows in {path} ({error}); run `pulpo build`"
        ) from None


def flows_needing_database(
    flows: Mapping[str, BuiltFlow], flow: str, using_documents: Iterable[str]
) -> list[str]:
    """Flows that ``flow`` runs (itself included) whose operations use documents."""
    users = set(using_documents)
    seen: set[str] = set()
    pending = [flow]
    while pending:
        name = pending.pop()
        if name in seen or name not in flows:
            continue
        seen.add(name)
        pending.extend(flows[name].runs)
    return sorted(seen & users)
