"""``pulpo`` commands: parse options, call one :class:`~pulpo.CLI` method, print.

This is the only place that turns a :class:`~pulpo.errors.PulpoError` into a message
and an exit code.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Optional

import typer

from pulpo.cli.output import build_summary, inspect_text
from pulpo.errors import PulpoError
from pulpo.interface import CLI

app = typer.Typer(
    name="pulpo",
    help="Turn decorated Python code into orchestrated Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
prefect_app = typer.Typer(help="Run the generated Prefect flows.", no_args_is_help=True)
app.add_typer(prefect_app, name="prefect")


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    json = "json"


ProjectOption = Annotated[
    Optional[Path],  # noqa: UP045 - Typer needs Optional on Python 3.11 annotations
    typer.Option(
        "--project",
        "-C",
        help="Project directory (default: the working directory, or the nearest parent "
        "whose pyproject.toml has a tool.pulpo table).",
        show_default=False,
    ),
]


@app.callback()
def root(ctx: typer.Context, project: ProjectOption = None) -> None:
    """pulpo: from @datamodel and @operation to Prefect flows."""
    ctx.obj = CLI(project)


@app.command()
def build(ctx: typer.Context) -> None:
    """Analyse the project and generate run_cache/ (flows, graph)."""
    typer.echo(build_summary(ctx.obj.build()))


@app.command()
def compile(ctx: typer.Context) -> None:
    """Generate the Prefect flow modules only."""
    typer.echo(build_summary(ctx.obj.compile()))


@app.command()
def clean(
    ctx: typer.Context,
    everything: Annotated[
        bool, typer.Option("--all", help="Also remove Prefect's local data and logs.")
    ] = False,
) -> None:
    """Remove generated code from run_cache/."""
    removed = ctx.obj.clean(everything=everything)
    root_dir = ctx.obj.project.root
    for path in removed:
        typer.echo(f"removed {path.relative_to(root_dir)}")
    if not removed:
        typer.echo("nothing to clean")


@app.command()
def graph(
    ctx: typer.Context,
    format: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="Output format.")
    ] = GraphFormat.mermaid,
) -> None:
    """Print the data-flow graph of operations and datamodels."""
    typer.echo(ctx.obj.graph(format.value), nl=False)


@app.command()
def inspect(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List models, operations and flows with their parameters."""
    data = ctx.obj.inspect()
    typer.echo(json.dumps(data, indent=2) if as_json else inspect_text(data))


@prefect_app.command("run")
def prefect_run(
    ctx: typer.Context,
    flow: Annotated[str, typer.Argument(help="Flow name, e.g. scraping_flow.")],
    param: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--param",
            "-p",
            help="name=value; the value is parsed as JSON when it is valid JSON.",
        ),
    ] = None,
) -> None:
    """Build, run FLOW and print its result as JSON."""
    from pulpo.runtime.execution import result_json

    result = ctx.obj.run(flow, param or [])
    typer.echo(result_json(result))


def main() -> None:
    """Console entry point."""
    try:
        app()
    except PulpoError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
