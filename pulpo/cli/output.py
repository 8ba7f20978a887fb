"""Plain-text renderings of command results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulpo.interface import BuildResult
from pulpo.schedule_report import describe as describe_schedule

if TYPE_CHECKING:
    from pulpo.services.manager import ServiceStatus


def build_summary(result: BuildResult) -> str:
    flows = result.orchestration.flows
    modules = sorted({flow.module for flow in flows.values()})
    lines = [
        f"built {len(flows)} flows in {len(modules)} modules → run_cache/orchestration/ "
        f"({len(result.written)} written, {len(result.unchanged)} unchanged, "
        f"{len(result.removed)} removed)"
    ]
    if result.api is not None:
        api = result.api
        documents = sum(
            1
            for f in (*api.written, *api.unchanged)
            if f.startswith("documents/") and not f.endswith("__init__.py")
        )
        lines.append(
            f"generated the API ({documents} document collections, {len(flows)} flow "
            f"routes) → run_cache/api/ ({len(api.written)} written, "
            f"{len(api.unchanged)} unchanged, {len(api.removed)} removed)"
        )
    lines += [f"  {name}" for name in flows]
    if result.image is not None:
        image = result.image
        how = (
            f"built in {image.build_seconds:.1f} s"
            if image.built
            else "unchanged, not rebuilt"
        )
        lines.append(f"image {image.tag} ({how})")
    return "\n".join(lines)


def inspect_text(data: dict[str, Any]) -> str:
    lines = ["Models:"]
    for model in data["models"]:
        kind = "document" if model["document"] else "model"
        lines.append(f"  {model['name']} ({kind}, {model['class']})")
    lines.append("Operations:")
    for op in data["operations"]:
        inputs = ", ".join(op["inputs"]) or "-"
        policy = _policy(op["policy"])
        uses = ", ".join(sorted(set(op.get("resources", {}).values())))
        lines.append(
            f"  {op['name']}: {inputs} → {op['output'] or '-'}  [{op['flow']}]"
            + (f"  {policy}" if policy else "")
            + (f"  uses {uses}" if uses else "")
        )
    lines.append("Flows:")
    for flow in data["flows"]:
        params = ", ".join(_parameter(p) for p in flow["parameters"]) or "no parameters"
        timeout = (
            f", timeout {flow['timeout']:g} s"
            if flow.get("timeout") is not None
            else ""
        )
        lines.append(
            f"  {flow['name']} ({len(flow['operations'])} operations{timeout}): "
            f"{params}"
        )
        if flow.get("schedule"):
            lines.append(f"    schedule: {describe_schedule(flow['schedule'])}")
    if data.get("resources"):
        lines.append("Resources:")
        for item in data["resources"]:
            used = ", ".join(item["operations"]) or "no operation"
            lines.append(
                f"  {item['name']} ({item['scope']} scope, {item['provider']} → "
                f"{item['provides']}): {used}"
            )
    return "\n".join(lines)


def _policy(policy: dict[str, Any]) -> str:
    """``retries 3 after 1, 2, 4 s ±20 %, timeout 30 s``; empty for the defaults."""
    parts = []
    if policy["retries"]:
        delays = ", ".join(f"{d:g}" for d in policy["retry_delays"])
        jitter = f" +{policy['retry_jitter']:.0%}" if policy.get("retry_jitter") else ""
        only = ", ".join(kind.rpartition(".")[2] for kind in policy.get("retry_on", ()))
        on = f" on {only}" if only else ""
        parts.append(f"retries {policy['retries']} after {delays} s{jitter}{on}")
    if policy["timeout"] is not None:
        parts.append(f"timeout {policy['timeout']:g} s")
    if policy.get("cache"):
        expiration = policy["cache"]["expiration"]
        kept = (
            "no expiry" if expiration is None else f"expires after {_span(expiration)}"
        )
        parts.append(f"cache: {policy['cache']['key']}, {kept}")
    for hook in ("on_failure", "on_completion"):
        if policy.get(hook):
            parts.append(f"{hook} {policy[hook].rpartition('.')[2]}")
    return ", ".join(parts)


def _parameter(parameter: dict[str, Any]) -> str:
    text = f"{parameter['name']}: {parameter['type']}"
    return text if parameter["required"] else f"{text} = {parameter['default']!r}"


def status_table(rows: list[ServiceStatus]) -> str:
    header = ("SERVICE", "STATE", "PID", "ADDRESS", "UPTIME", "HEALTH")
    table = [header]
    for row in rows:
        health = {True: "healthy", False: "failing", None: "-"}[row.healthy]
        state = f"{row.state} ({row.detail})" if row.detail else row.state
        table.append(
            (
                row.name,
                state,
                str(row.pid or "-"),
                row.address,
                _duration(row.uptime),
                health,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in table
    )


def describe_targets(paths: list[Path], root: Path) -> list[str]:
    """One line per path to delete: where it is, how many files, how large."""
    lines = []
    for path in paths:
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        size = sum(p.stat().st_size for p in files if not p.is_symlink())
        lines.append(
            f"{path.relative_to(root)}/  {len(files)} files, {_size(size)}"
            + (
                f"  ({', '.join(sorted(c.name for c in path.iterdir()))})"
                if path.is_dir()
                else ""
            )
        )
    return lines


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _span(seconds: float) -> str:
    """``1 h``, ``90 min``, ``2.5 s``: a configured length of time."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
