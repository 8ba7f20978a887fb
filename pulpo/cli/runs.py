"""``pulpo prefect runs / cancel / cleanup / schedule``: the project's flow runs and
schedules on its Prefect server."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from pulpo.errors import PulpoError

if TYPE_CHECKING:
    from pulpo.api.runs import Run

schedule_app = typer.Typer(
    help="Pause or resume a flow's schedule (its schedule setting).",
    no_args_is_help=True,
)


class RunStatus(StrEnum):
    pending = "pending"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class EndedStatus(StrEnum):
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


def register(prefect_app: typer.Typer) -> None:
    """Add the run and schedule commands to ``pulpo prefect``."""
    prefect_app.command("runs")(runs)
    prefect_app.command("cancel")(cancel)
    prefect_app.command("cleanup")(cleanup)
    prefect_app.add_typer(schedule_app, name="schedule")


def runs(
    ctx: typer.Context,
    status: Annotated[
        Optional[list[RunStatus]],  # noqa: UP045 - Typer needs Optional
        typer.Option("--status", "-s", help="Only runs in this status (repeatable)."),
    ] = None,
    flow: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--flow", "-f", help="Only runs of this flow."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the newest runs of the project's deployments (what the worker runs)."""
    found = ctx.obj.runs([s.value for s in status or []], flow, limit)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in found], indent=2))
    elif not found:
        typer.echo("no runs")
    else:
        typer.echo(run_table(found))


def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id (pulpo prefect runs).")],
) -> None:
    """Cancel a pending or processing run (a running one is stopped by its worker)."""
    run = ctx.obj.cancel(run_id)
    typer.echo(f"{run.run_id} {run.flow} {run.state}")


def cleanup(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Only runs that ended longer ago than this: 7d, 12h, 30m, 0s.",
        ),
    ],
    status: Annotated[
        Optional[list[EndedStatus]],  # noqa: UP045
        typer.Option(
            "--status", "-s", help="Only runs that ended so (default: any ended run)."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking (for scripts).")
    ] = False,
) -> None:
    """Delete ended runs (with their logs) older than --older-than, after listing them.

    Without --yes it lists them and asks; without a terminal to ask, it deletes
    nothing. Pending and processing runs are never deleted.
    """
    found = ctx.obj.cleanup_candidates(older_than, [s.value for s in status or []])
    if not found:
        typer.echo("no runs to delete")
        return
    typer.echo(f"{len(found)} runs to delete:")
    typer.echo(run_table(found))
    if not yes:
        if not sys.stdin.isatty():
            raise PulpoError(
                "nothing deleted: not at a terminal to ask; add --yes to confirm"
            )
        if not typer.confirm(f"Delete these {len(found)} runs?", default=False):
            raise PulpoError("nothing deleted")
    deleted = ctx.obj.cleanup(found)
    typer.echo(f"deleted {len(deleted)} runs")


@schedule_app.command("pause")
def pause(
    ctx: typer.Context, flow: Annotated[str, typer.Argument(help="Flow name.")]
) -> None:
    """Stop FLOW's schedule from starting runs (its scheduled runs are removed)."""
    ctx.obj.schedule(flow, True)
    typer.echo(f"paused the schedule of {flow}")


@schedule_app.command("resume")
def resume(
    ctx: typer.Context, flow: Annotated[str, typer.Argument(help="Flow name.")]
) -> None:
    """Let FLOW's schedule start runs again."""
    state = ctx.obj.schedule(flow, False)
    after = f"; next run {state.next_run.isoformat()}" if state.next_run else ""
    typer.echo(f"resumed the schedule of {flow}{after}")


def run_table(found: list[Run]) -> str:
    """One line per run: id, flow, status, Prefect state, created, last change."""
    header = ("RUN ID", "FLOW", "STATUS", "STATE", "CREATED", "UPDATED")
    rows = [header] + [
        (
            str(r.run_id),
            r.flow,
            r.status,
            r.state,
            _time(r.created_at),
            _time(r.updated_at),
        )
        for r in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    )


def _time(value: object) -> str:
    from datetime import datetime

    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"
