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

from pulpo.cli import runs, services
from pulpo.cli.output import build_summary, describe_targets, inspect_text
from pulpo.errors import ProjectError, PulpoError, error_line
from pulpo.interface import CLI

app = typer.Typer(
    name="pulpo",
    help="Turn decorated Python code into orchestrated Prefect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
prefect_app = typer.Typer(
    help="The Prefect server, deployments and flow runs.", no_args_is_help=True
)
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
    ctx.obj = CLI(project, notify=_notice)


@app.command()
def build(
    ctx: typer.Context,
    image: Annotated[
        bool,
        typer.Option(
            "--image",
            help="Also build the project's Docker image (always with backend = "
            '"docker" or worker_type = "docker").',
        ),
    ] = False,
) -> None:
    """Analyse the project and generate run_cache/ (flows, graph, API; the image)."""
    typer.echo(build_summary(ctx.obj.build(image=image)))


@app.command()
def compile(ctx: typer.Context) -> None:
    """Generate the Prefect flow modules only."""
    typer.echo(build_summary(ctx.obj.compile()))


@app.command()
def clean(
    ctx: typer.Context,
    everything: Annotated[
        bool,
        typer.Option("--all", help="All of run_cache/: also logs and service records."),
    ] = False,
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also the data directory (.pulpo/): database, Prefect history, "
            "results, API key.",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Do not ask (for scripts).")
    ] = False,
    volumes: Annotated[
        bool,
        typer.Option(
            "--volumes",
            help="Also the project's Docker volumes (database and Prefect data of "
            'backend = "docker").',
        ),
    ] = False,
) -> None:
    """Remove generated code from run_cache/ (with --all, --data or --volumes, after
    asking)."""
    root_dir = ctx.obj.project.root
    targets = ctx.obj.clean_targets(everything=everything, data=data)
    docker_volumes = ctx.obj.docker_volumes() if volumes else []
    if not targets and not docker_volumes:
        typer.echo("nothing to clean")
        return
    if (everything or data or docker_volumes) and not yes:
        typer.echo("This deletes:")
        for line in describe_targets(targets, root_dir):
            typer.echo(f"  {line}")
        for name in docker_volumes:
            typer.echo(f"  Docker volume {name}")
        if not sys.stdin.isatty():
            raise PulpoError(
                "nothing deleted: not at a terminal to ask; add --yes to confirm"
            )
        if not typer.confirm("Delete these?", default=False):
            raise PulpoError("nothing deleted")
    for path in ctx.obj.clean(targets):
        typer.echo(f"removed {path.relative_to(root_dir)}")
    for name in ctx.obj.remove_docker_volumes(docker_volumes):
        typer.echo(f"removed Docker volume {name}")


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


@app.command()
def compose(
    ctx: typer.Context,
    output: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--output", "-o", help="Where to write it (default: docker-compose.yml)."
        ),
    ] = None,
) -> None:
    """Build the image and write a docker-compose.yml of the same services."""
    path, image = ctx.obj.compose(output)
    typer.echo(f"wrote {path} (image {image})")


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
    deployment: Annotated[
        bool,
        typer.Option("--deployment", help="Run through the worker and wait for it."),
    ] = False,
    timeout: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option(
            "--timeout",
            help="Seconds the run may take; with --deployment, seconds to wait for "
            "it to end, after which it is cancelled.",
        ),
    ] = None,
    ephemeral: Annotated[
        bool,
        typer.Option(
            "--ephemeral",
            help="Start no server: without one running, use Prefect's temporary "
            "server for this run only.",
        ),
    ] = False,
    quiet_tasks: Annotated[
        bool,
        typer.Option(
            "--quiet-tasks", help="Leave out Prefect's INFO lines for each task run."
        ),
    ] = False,
    refresh_cache: Annotated[
        bool,
        typer.Option(
            "--refresh-cache",
            help="Run cached operations again and store their new results.",
        ),
    ] = False,
) -> None:
    """Run FLOW (building first if the code changed) and print its result as JSON.

    Uses the project's Prefect server, starting it when none is running (pulpo down
    stops it).
    """
    from pulpo.cli.stdout import stdout_to_stderr
    from pulpo.runtime.execution import result_json

    try:
        with stdout_to_stderr():  # what operations print must not mix with the JSON
            result = ctx.obj.run(
                flow,
                param or [],
                deployment=deployment,
                timeout=timeout,
                ephemeral=ephemeral,
                quiet_tasks=quiet_tasks,
                refresh_cache=refresh_cache,
            )
    except KeyboardInterrupt:
        _notice(
            "interrupted; the run is marked crashed (with --deployment it goes on "
            "on the worker)"
        )
        raise typer.Exit(130) from None
    typer.echo(result_json(result))


@prefect_app.command("deploy")
def prefect_deploy(
    ctx: typer.Context,
    flows: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Argument(help="Flows to deploy (default with --all: every flow)."),
    ] = None,
    all_flows: Annotated[
        bool, typer.Option("--all", help="Deploy every flow.")
    ] = False,
    job_variables: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--job-variables",
            help="A JSON object of job variables for every deployment, instead of "
            "pulpo's (a Docker pool's image, network, volumes…).",
        ),
    ] = None,
) -> None:
    """Register deployments of the generated flows for the worker."""
    if not flows and not all_flows:
        raise typer.BadParameter("name flows to deploy, or pass --all")
    for name in ctx.obj.deploy(flows or [], job_variables_option(job_variables)):
        typer.echo(f"deployed {name}")


services.register(app, prefect_app)
runs.register(prefect_app)


def job_variables_option(text: str | None) -> dict[str, object] | None:
    """The ``--job-variables`` JSON object, or None when not given.

    Raises:
        ProjectError: the text is not a JSON object.
    """
    if text is None:
        return None
    example = 'such as \'{"image": "my-image:1"}\''
    try:
        found = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProjectError(
            f"--job-variables is not JSON ({error.msg} at character {error.pos}); "
            f"pass an object {example}"
        ) from None
    if not isinstance(found, dict):
        raise ProjectError(f"--job-variables must be a JSON object, {example}")
    return found


def _notice(text: str) -> None:
    typer.echo(text, err=True)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except PulpoError as error:
        typer.secho(error_line(error), fg=typer.colors.RED, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
