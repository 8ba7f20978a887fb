"""What each service is as a container of the project's image: command, environment,
volumes, published ports and Docker health check.

The services keep the names, ports and health checks of the process backend; inside
the project's network they reach each other by service name (``db``, ``prefect``),
and the host reaches them through ports published on ``host`` (``api_host`` for the
API) only. Data lives in named volumes, one per kind, kept by ``pulpo down``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulpo.api_keys import load_keys
from pulpo.project import Project
from pulpo.secrets import prefect_auth_string
from pulpo.services.definitions import ServiceDefinition
from pulpo.services.image_tag import image_repository, project_label
from pulpo.settings import Settings

WORKDIR = "/app"
"""Where the image holds the project (the working directory of every container)."""
DB_PORT, PREFECT_PORT, API_PORT, UI_PORT = 27017, 4200, 8000, 8080
VOLUMES = {"db": "/data/db", "prefect": "/data/prefect"}
DOCKER_SOCKET = "/var/run/docker.sock"
PREFECT_URL = f"http://prefect:{PREFECT_PORT}/api"


@dataclass(frozen=True)
class ContainerSpec:
    """One service's container: everything ``docker run`` and Compose need."""

    service: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    # Secrets, read (or created) only when the container starts; never in Compose.
    secrets: Mapping[str, str] = field(default_factory=dict)
    volumes: Mapping[str, str] = field(default_factory=dict)  # kind → mount point
    # Host folders mounted at the same path (flow results: see container_spec).
    binds: tuple[str, ...] = ()
    # Host sockets mounted at the same path (a Docker worker's Docker socket).
    sockets: tuple[str, ...] = ()
    ports: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    health: tuple[str, ...] | None = None  # a command run inside the container
    depends_on: tuple[str, ...] = ()
    # Another image than the project's (db_image, prefect_image), with the setting
    # that names it; an empty command then runs that image's own.
    image: str | None = None
    image_setting: str | None = None


def container_name(project: Project, service: str) -> str:
    return f"{image_repository(project)}-{service}"


def network_name(project: Project) -> str:
    return image_repository(project)


def volume_name(project: Project, kind: str) -> str:
    return f"{image_repository(project)}-{kind}"


def labels(project: Project, service: str | None = None) -> dict[str, str]:
    """Labels tying a container (``service``), network or volume to the project."""
    from pulpo.services.docker_client import PROJECT_LABEL, SERVICE_LABEL

    found = {
        PROJECT_LABEL: project_label(project),
        "io.pulpo.project.root": str(project.root),
    }
    if service is not None:
        found[SERVICE_LABEL] = service
    return found


def container_spec(
    project: Project,
    settings: Settings,
    service: ServiceDefinition,
    secrets: bool,
    results: str | None = None,
) -> ContainerSpec:
    """The container of ``service``; with ``secrets`` its secret environment too.

    Flow results stay in the project's ``.pulpo/results``, mounted at the same path:
    a run the worker's container stored is read by ``pulpo prefect run
    --deployment`` here, and cached results serve both. ``results`` names another
    folder, then kept in a volume (Compose on another machine).
    """
    on_host = results is None
    results = str(project.data_dir / "results") if results is None else results
    keep_results: dict[str, Any] = (
        {"binds": (results,)} if on_host else {"volumes": {"results": results}}
    )
    prefect_env = {
        "PREFECT_HOME": VOLUMES["prefect"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": results,
    }
    client_env = {
        **prefect_env,
        "PREFECT_API_URL": PREFECT_URL,
        **inside(settings),
    }
    auth = {"PREFECT_API_AUTH_STRING": prefect_auth_string(project)} if secrets else {}
    name = service.name
    if name == "db" and settings.db_image:
        # Its own server and health; pulpo checks it from the host (a MongoDB ping).
        return ContainerSpec(
            name,
            (),
            {},
            volumes={"db": VOLUMES["db"]},
            ports={DB_PORT: (settings.host, settings.db_port)},
            image=settings.db_image,
            image_setting="db_image",
        )
    if name == "db":
        return ContainerSpec(
            name,
            (
                "python",
                "-m",
                "nx_27017.nx_27017",
                "--host",
                "0.0.0.0",
                "-p",
                str(DB_PORT),
            )
            + ("--data-dir", VOLUMES["db"], "--log-file", "/dev/null"),
            {},
            volumes={"db": VOLUMES["db"]},
            ports={DB_PORT: (settings.host, settings.db_port)},
            health=_tcp_probe(DB_PORT),
        )
    if name == "prefect":
        server_auth = (
            {"PREFECT_SERVER_API_AUTH_STRING": prefect_auth_string(project)}
            if secrets
            else {}
        )
        database = (
            {"PREFECT_API_DATABASE_CONNECTION_URL": settings.prefect_database_url}
            if settings.prefect_database_url
            else {}
        )
        return ContainerSpec(
            name,
            (
                "prefect",
                "server",
                "start",
                "--host",
                "0.0.0.0",
                "--port",
                str(PREFECT_PORT),
            ),
            {
                **prefect_env,
                **database,
                # The UI in a browser on this machine calls the published port.
                "PREFECT_UI_API_URL": f"http://{settings.host}:{settings.prefect_port}/api",
            },
            secrets=server_auth,
            volumes={"prefect": VOLUMES["prefect"]},
            ports={PREFECT_PORT: (settings.host, settings.prefect_port)},
            health=_http_probe(f"http://127.0.0.1:{PREFECT_PORT}/api/health"),
            image=settings.prefect_image,
            image_setting="prefect_image" if settings.prefect_image else None,
        )
    if name == "api":
        keys = {"PULPO_API_KEYS": ",".join(load_keys(project))} if secrets else {}
        return ContainerSpec(
            name,
            _served_everywhere(service.command, API_PORT),
            {
                **client_env,
                "PREFECT_SERVER_LOGGING_LEVEL": "INFO",
                "PREFECT_CLIENT_MAX_RETRIES": "0",
            },
            secrets={**auth, **keys},
            ports={API_PORT: (settings.api_host, settings.api_port)},
            health=_http_probe(f"http://127.0.0.1:{API_PORT}/health/live"),
            depends_on=service.depends_on,
            **keep_results,
        )
    if name == "ui":
        from pulpo.ui.upstream import UPSTREAM_VARIABLE

        keys = {"PULPO_API_KEYS": ",".join(load_keys(project))} if secrets else {}
        return ContainerSpec(
            name,
            _served_everywhere(service.command, UI_PORT),
            # It calls the API by its name; pages still show the published address.
            {**inside(settings), UPSTREAM_VARIABLE: f"http://api:{API_PORT}"},
            secrets=keys,
            ports={UI_PORT: (settings.ui_host, settings.ui_port)},
            health=_http_probe(f"http://127.0.0.1:{UI_PORT}/ui/live"),
            depends_on=service.depends_on,
        )
    if service.group != "worker":
        return _generic(service, client_env, auth, settings)
    # A worker: the same `prefect worker start …` as on the host. A Docker worker
    # starts its flow runs' containers through the host's Docker socket.
    sockets = (DOCKER_SOCKET,) if settings.worker_type == "docker" else ()
    return ContainerSpec(
        name,
        ("prefect", *service.command[1:]),
        {**dict(service.defaults), **client_env},
        secrets=auth,
        health=None,
        depends_on=service.depends_on,
        sockets=sockets,
        **keep_results,
    )


def _served_everywhere(command: tuple[str, ...], port: int) -> tuple[str, ...]:
    """A uvicorn command of the host, with the image's Python, listening on every
    interface of the container at ``port``."""
    inner = list(command)
    inner[0] = "python"
    inner[inner.index("--host") + 1] = "0.0.0.0"
    inner[inner.index("--port") + 1] = str(port)
    return tuple(inner)


def _generic(
    service: ServiceDefinition,
    environment: Mapping[str, str],
    secrets: Mapping[str, str],
    settings: Settings,
) -> ContainerSpec:
    """A service this module has no rule for (one added later): its own command with
    the image's Python, listening on every interface of the container at its port,
    published on ``host``. Services it calls must be reached by their names."""
    command = list(service.command)
    command[0] = Path(command[0]).name
    if "--host" in command:
        command[command.index("--host") + 1] = "0.0.0.0"
    ports = {service.port: (settings.host, service.port)} if service.port else {}
    return ContainerSpec(
        service.name,
        tuple(command),
        dict(environment),
        secrets=dict(secrets),
        ports=ports,
        depends_on=service.depends_on,
    )


def inside(settings: Settings) -> dict[str, str]:
    """The project's settings as a container sees them: the database by its name on
    the project's network (unless an outside ``MONGODB_URL`` is set)."""
    database = settings.mongodb_url or f"mongodb://db:{DB_PORT}"
    return settings.model_copy(update={"mongodb_url": database}).environment()


def _tcp_probe(port: int) -> tuple[str, ...]:
    return (
        "python",
        "-c",
        f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)",
    )


def _http_probe(url: str) -> tuple[str, ...]:
    return (
        "python",
        "-c",
        f"import urllib.request; urllib.request.urlopen({url!r}, timeout=2)",
    )
