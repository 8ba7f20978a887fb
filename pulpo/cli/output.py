"""Plain-text renderings of command results."""

from __future__ import annotations

from typing import Any

from pulpo.interface import BuildResult


def build_summary(result: BuildResult) -> str:
    flows = result.orchestration.flows
    modules = sorted({flow.module for flow in flows.values()})
    lines = [
        f"built {len(flows)} flows in {len(modules)} modules → run_cache/orchestration/ "
        f"({len(result.written)} written, {len(result.unchanged)} unchanged, "
        f"{len(result.removed)} removed)"
    ]
    lines += [f"  {name}" for name in flows]
    return "\n".join(lines)


def inspect_text(data: dict[str, Any]) -> str:
    lines = ["Models:"]
    for model in data["models"]:
        kind = "document" if model["document"] else "model"
        lines.append(f"  {model['name']} ({kind}, {model['class']})")
    lines.append("Operations:")
    for op in data["operations"]:
        inputs = ", ".join(op["inputs"]) or "-"
        lines.append(
            f"  {op['name']}: {inputs} → {op['output'] or '-'}  [{op['flow']}]"
        )
    lines.append("Flows:")
    for flow in data["flows"]:
        params = ", ".join(_parameter(p) for p in flow["parameters"]) or "no parameters"
        lines.append(
            f"  {flow['name']} ({len(flow['operations'])} operations): {params}"
        )
    return "\n".join(lines)


def _parameter(parameter: dict[str, Any]) -> str:
    text = f"{parameter['name']}: {parameter['type']}"
    return text if parameter["required"] else f"{text} = {parameter['default']!r}"
