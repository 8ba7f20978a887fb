"""The project graph as JSON and as a Mermaid flowchart."""

from __future__ import annotations

import types
import typing
from typing import Any

import orjson
from pydantic_core import to_jsonable_python

from pulpo.analysis.signatures import EMPTY
from pulpo.orchestration.compiler import FlowParameter, Orchestration
from pulpo.orchestration.pysource import identifier
from pulpo.orchestration.templating import render


def json_text(data: Any) -> str:
    """Indented JSON with a final newline (orjson: the stdlib's indenting is slow)."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def graph_json(orchestration: Orchestration) -> dict[str, Any]:
    """Models, operations, edges and flows as plain JSON data, sorted."""
    graph = orchestration.graph
    consumers: dict[str, set[str]] = {name: set() for name in graph.models}
    for op in graph.operations.values():
        for model in op.inputs:
            consumers[model].add(op.name)
    return {
        "models": [
            {
                "name": name,
                "class": f"{spec.cls.__module__}.{spec.cls.__qualname__}",
                "document": spec.is_document,
                "producers": list(graph.producers_of(name)),
                "consumers": sorted(consumers[name]),
            }
            for name, spec in graph.models.items()
        ],
        "operations": [
            {
                "name": name,
                "function": f"{op.spec.function.__module__}.{op.spec.function.__qualname__}",
                "flow": orchestration.flow_of(name).name,
                "inputs": list(op.inputs),
                "output": op.output,
                "upstream": list(op.upstream),
                "description": op.spec.description,
                "policy": {
                    "retries": op.spec.retries,
                    "retry_delays": list(op.spec.retry_delays),
                    "retry_jitter": op.spec.retry_jitter,
                    "retry_on": [
                        f"{kind.__module__}.{kind.__qualname__}"
                        for kind in op.spec.retry_on
                    ],
                    "timeout": op.spec.timeout,
                    "cache": {
                        "key": "inputs+source",
                        "expiration": op.spec.cache_expiration,
                    }
                    if op.spec.cache
                    else None,
                    "on_failure": _function_name(op.spec.on_failure),
                    "on_completion": _function_name(op.spec.on_completion),
                },
                "tags": list(op.spec.tags),
                "resources": {parameter: name for parameter, name in op.resources},
                "map_over": None
                if op.spec.map_over is None
                else {
                    "parameter": op.spec.map_over[0],
                    "source": f"{op.spec.map_over[1]}.{op.spec.map_over[2]}",
                    "max_concurrency": op.spec.max_concurrency,
                },
            }
            for name, op in graph.operations.items()
        ],
        "edges": [
            {
                "producer": e.producer,
                "model": e.model,
                "consumer": e.consumer,
                "parameter": e.parameter,
            }
            for e in graph.edges
        ],
        "flows": [
            {
                "name": flow.name,
                "scope": flow.scope,
                "module": flow.module,
                "standalone": flow.standalone,
                "operations": list(flow.operations),
                "upstream": list(flow.upstream),
                "runs_flow": flow.delegation.flow if flow.delegation else None,
                "task_runner": flow.task_runner,
                "timeout": flow.timeout,
                "parameters": [parameter_json(p) for p in flow.parameters],
            }
            for flow in orchestration.flows.values()
        ],
        "resources": [
            {
                "name": name,
                "provider": spec.location,
                "scope": spec.scope,
                "provides": type_label(spec.provides),
                "settings": [setting for setting, _, _ in spec.settings],
                "operations": sorted(
                    op.name
                    for op in graph.operations.values()
                    if any(used == name for _, used in op.resources)
                ),
            }
            for name, spec in graph.resources.items()
        ],
    }


def _function_name(function: Any) -> str | None:
    """``module.qualname`` of a hook, or None."""
    if function is None:
        return None
    return f"{function.__module__}.{function.__qualname__}"


def parameter_json(parameter: FlowParameter) -> dict[str, Any]:
    """A flow parameter as JSON: name, type, whether required, default, users."""
    data: dict[str, Any] = {
        "name": parameter.name,
        "type": type_label(parameter.annotation),
        "required": parameter.required,
    }
    if parameter.default is not EMPTY:
        data["default"] = to_jsonable_python(parameter.default, fallback=repr)
    data["operations"] = list(parameter.operations)
    if parameter.supplies:
        data["supplies"] = parameter.supplies
    return data


def type_label(annotation: Any) -> str:
    """A short human label for an annotation: ``CleanedJobs | None``, ``list[str]``."""
    if annotation is EMPTY or annotation is Any:
        return "Any"
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_label(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None and args:
        inner = ", ".join("..." if a is Ellipsis else type_label(a) for a in args)
        return f"{getattr(origin, '__name__', type_label(origin))}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def graph_mermaid(orchestration: Orchestration) -> str:
    """A Mermaid flowchart: operations grouped by namespace, models between them."""
    graph = orchestration.graph
    lines: list[str] = []
    _namespace_lines(sorted(graph.operations), "", 1, lines)
    for name in graph.models:
        lines.append(f'    {_model_id(name)}[("{name}")]')
    for op in graph.operations.values():
        if op.output:
            lines.append(f"    {_op_id(op.name)} --> {_model_id(op.output)}")
    for op in graph.operations.values():
        for binding in op.bindings:
            model = binding.parameter.model
            if model:
                lines.append(
                    f"    {_model_id(model)} -->|{binding.parameter.name}| {_op_id(op.name)}"
                )
    for name in graph.resources:
        lines.append(f'    {_resource_id(name)}{{{{"{name}"}}}}')
    for op in graph.operations.values():
        for parameter, name in op.resources:
            lines.append(
                f"    {_resource_id(name)} -.->|{parameter}| {_op_id(op.name)}"
            )
    return render("graph.mmd.j2", lines=lines)


def _namespace_lines(
    operations: list[str], prefix: str, depth: int, lines: list[str]
) -> None:
    pad = "    " * depth
    children: dict[str, list[str]] = {}
    for op in operations:
        rest = op[len(prefix) :]
        if "." in rest:
            children.setdefault(rest.split(".")[0], []).append(op)
        else:
            lines.append(f'{pad}{_op_id(op)}["{op}"]')
    for segment, members in children.items():
        namespace = prefix + segment
        lines.append(f'{pad}subgraph ns_{identifier(namespace)}["{namespace}"]')
        _namespace_lines(members, namespace + ".", depth + 1, lines)
        lines.append(f"{pad}end")


def _op_id(name: str) -> str:
    return f"op_{identifier(name)}"


def _resource_id(name: str) -> str:
    return f"resource_{name}"


def _model_id(name: str) -> str:
    return f"model_{name}"
