"""Service commands: up, down, status, logs, and start/stop/restart per service."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Optional

import typer

from pulpo.cli.output import status_table

db_app = typer.Typer(
    help="The database (embedded MongoDB-protocol server).", no_args_is_help=True
)
worker_app = typer.Typer(
    help="The Prefect worker that runs deployments.", no_args_is_help=True
)
api_app = typer.Typer(
    help="The HTTP API (CRUD for documents, jobs over flow runs).",
    no_args_is_help=True,
)

ui_app = typer.Typer(
    help="The web UI (graph, flows, runs, data, health) on 127.0.0.1.",
    no_args_is_help=True,
)


def register(app: typer.Typer, prefect_app: typer.Typer) -> None:
    """Add the service commands to the root app and the service sub-apps."""
    app.command()(up)
    app.command()(down)
    app.command()(status)
    app.command()(logs)
    app.add_typer(db_app, name="db")
    app.add_typer(worker_app, name="worker")
    app.add_typer(api_app, name="api")
    app.add_typer(ui_app, name="ui")
    for name, sub in (
        ("prefect", prefect_app),
        ("db", db_app),
        ("worker", worker_app),
        ("api", api_app),
        ("ui", ui_app),
    ):
        _lifecycle(sub, name)


def up(
    ctx: typer.Context,
    backend: Annotated[
        Optional[str],  # noqa: UP045 - Typer needs Optional on Python 3.11
        typer.Option(
            "--backend",
            help="processes or docker (default: the backend setting); later "
            "commands act on the stack this starts.",
        ),
    ] = None,
) -> None:
    """Build, then start db, prefect, worker, api and ui, each healthy before the next."""
    typer.echo(status_table(ctx.obj.up(backend=backend)))


def down(ctx: typer.Context) -> None:
    """Stop every service in reverse order (SIGTERM, then SIGKILL after 10 s)."""
    stopped = ctx.obj.down()
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each service: state, pid, address, uptime, health.

    Exit code: 0 when every service runs, 3 when some are stopped, 1 when one has
    crashed, is orphaned (its supervisor is gone), unhealthy or unreachable.
    """
    from pulpo.services.manager import status_exit_code

    rows = ctx.obj.status()
    if as_json:
        typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
    else:
        typer.echo(status_table(rows))
    code = status_exit_code(rows)
    if code:
        raise typer.Exit(code)


def logs(
    ctx: typer.Context,
    service: Annotated[str, typer.Argument(help="db, prefect, worker, api or ui.")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
) -> None:
    """Print the end of a service's log (run_cache/logs/SERVICE.log)."""
    if not follow:
        typer.echo(ctx.obj.logs(service, lines), nl=False)
        return
    for chunk in ctx.obj.services.follow(service, lines):
        typer.echo(chunk, nl=False)


@db_app.command("init")
def db_init(ctx: typer.Context) -> None:
    """Create collections and indexes for every Beanie document datamodel."""
    collections = ctx.obj.db_init()
    typer.echo(
        f"initialised {', '.join(collections)}"
        if collections
        else "no Beanie documents"
    )


@api_app.command("key")
def api_key(ctx: typer.Context) -> None:
    """Print the API key (created on first use unless PULPO_API_KEYS is set)."""
    for key in ctx.obj.api_key():
        typer.echo(key)


@ui_app.command("open")
def ui_open(ctx: typer.Context) -> None:
    """Print the UI's address, and open it in a browser when there is a display."""
    import os
    import sys
    import webbrowser

    url = ctx.obj.ui_url()
    typer.echo(url)
    if (
        sys.platform in ("darwin", "win32")
        or os.environ.get("DISPLAY")
        or (os.environ.get("WAYLAND_DISPLAY"))
    ):
        webbrowser.open(url)


def _lifecycle(sub: typer.Typer, service: str) -> None:
    def start(ctx: typer.Context) -> None:
        typer.echo(status_table(ctx.obj.start(service)))

    def stop(ctx: typer.Context) -> None:
        typer.echo(
            f"stopped {service}"
            if ctx.obj.stop(service)
            else f"{service} was not running"
        )

    def restart(ctx: typer.Context) -> None:
        typer.echo(status_table(ctx.obj.restart(service)))

    def service_logs(
        ctx: typer.Context,
        lines: Annotated[int, typer.Option("--lines", "-n")] = 50,
        follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
    ) -> None:
        logs(ctx, service, lines, follow)

    sub.command("start", help=f"Start {service} (and what it needs).")(start)
    sub.command("stop", help=f"Stop {service}.")(stop)
    sub.command("restart", help=f"Restart {service}.")(restart)
    sub.command("logs", help=f"Print the end of {service}'s log.")(service_logs)
