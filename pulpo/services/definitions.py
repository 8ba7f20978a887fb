"""The services a project runs, declared as data: command, dependencies, port, health."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from pulpo.api_keys import KEY_FILE_VARIABLE, key_file
from pulpo.observe.logs import logging_environment
from pulpo.project import Project
from pulpo.secrets import prefect_auth_string
from pulpo.services.flow_containers import require_prefect_docker
from pulpo.services.health import http_ok, mongo_ping, worker_online
from pulpo.services.prefect_database import check_reachable
from pulpo.settings import Settings

MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 256


@dataclass(frozen=True)
class ServiceDefinition:
    """One service: how to run it and how to tell that it works.

    ``external`` is set when an outside server stands in for it (``MONGODB_URL``):
    pulpo then starts nothing and only checks its health. ``health(timeout=...)``
    says whether it answers within ``timeout`` seconds (a short default).
    """

    name: str
    description: str
    command: tuple[str, ...]
    health: Callable[..., bool]
    address: str
    depends_on: tuple[str, ...] = ()
    port: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # Secrets for the environment, read (or created) only when the service starts.
    secret_env: Callable[[], Mapping[str, str]] | None = None
    data_dir: Path | None = None
    external: str | None = None
    start_timeout: float = 120.0
    # Files a killed instance may leave behind that would stop a new one from starting.
    stale_files: tuple[Path, ...] = ()
    # Checks what the service needs from outside, before it starts; raises ServiceError.
    preflight: Callable[[], None] | None = None
    # Environment values the user's own environment overrides (``env`` is pulpo's own).
    defaults: Mapping[str, str] = field(default_factory=dict)
    # Services started, stopped and restarted together by the group's name (workers).
    group: str | None = None


def project_services(
    project: Project, settings: Settings
) -> dict[str, ServiceDefinition]:
    """The services of ``project`` in start order: db, prefect, worker, api, ui."""
    run_cache = project.run_cache
    python = sys.executable
    prefect = str(Path(python).with_name("prefect"))
    prefect_env = prefect_environment(project, settings)
    db_dir = project.data_dir / "db"
    nx_pid_file = run_cache / "services" / "nx-27017.pid"
    services = [
        ServiceDefinition(
            name="db",
            description="MongoDB wire-protocol server (nx-27017, SQLite files)",
            command=(
                python,
                "-m",
                "nx_27017.nx_27017",
                "--host",
                settings.host,
                "-p",
                str(settings.db_port),
                "--data-dir",
                str(db_dir),
                "--pid-file",
                str(nx_pid_file),
                "--log-file",
                os.devnull,
            ),
            health=partial(mongo_ping, settings.db_url),
            address=settings.db_url,
            port=None if settings.mongodb_url else settings.db_port,
            data_dir=db_dir,
            external=settings.mongodb_url,
            start_timeout=30,
            stale_files=(nx_pid_file,),
        ),
        ServiceDefinition(
            name="prefect",
            description="Prefect server (API and UI)",
            command=(
                prefect,
                "server",
                "start",
                "--host",
                settings.host,
                "--port",
                str(settings.prefect_port),
            ),
            health=partial(http_ok, f"{settings.prefect_api_url}/health"),
            address=f"http://{settings.host}:{settings.prefect_port}",
            port=settings.prefect_port,
            env={**prefect_env, **_server_database(settings)},
            secret_env=lambda: {
                "PREFECT_SERVER_API_AUTH_STRING": prefect_auth_string(project)
            },
            data_dir=project.data_dir / "prefect",
            preflight=partial(check_reachable, settings.prefect_database_url)
            if settings.prefect_database_url
            else None,
        ),
        *worker_services(project, settings, prefect_env),
        ServiceDefinition(
            name="api",
            description="pulpo's HTTP API (run_cache/api, under uvicorn)",
            command=(
                python,
                "-m",
                "uvicorn",
                "run_cache.api.app:app",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                "--timeout-graceful-shutdown",
                "5",
                # Bounds on what clients can hold: header bytes (h11 enforces them,
                # httptools does not), seconds to send a request, open connections,
                # idle keep-alive seconds.
                "--http",
                "pulpo.api.http_protocol:BoundedH11Protocol",
                "--h11-max-incomplete-event-size",
                str(MAX_HEADER_BYTES),
                "--limit-concurrency",
                str(MAX_CONNECTIONS),
                "--timeout-keep-alive",
                "5",
            ),
            health=partial(http_ok, f"{settings.api_url}/health/live"),
            address=settings.api_url,
            depends_on=("db", "prefect", "worker"),
            port=settings.api_port,
            env={
                **prefect_env,
                "PREFECT_API_URL": settings.prefect_api_url,
                **handed_down(settings),
                KEY_FILE_VARIABLE: str(key_file(project)),
                # Prefect's logging setup governs uvicorn's loggers in this process.
                "PREFECT_SERVER_LOGGING_LEVEL": "INFO",
                # The API tries busy answers again itself, sooner than Prefect's 2,
                # 4, 8 s (pulpo.api.patience).
                "PREFECT_CLIENT_MAX_RETRIES": "0",
            },
            secret_env=partial(prefect_client_auth, project),
            start_timeout=90,
        ),
        ServiceDefinition(
            name="ui",
            description="pulpo's web UI (static pages, calls the API with its key)",
            command=(
                python,
                "-m",
                "uvicorn",
                "pulpo.ui.server:create_app",
                "--factory",
                "--host",
                settings.ui_host,
                "--port",
                str(settings.ui_port),
                "--timeout-graceful-shutdown",
                "5",
                "--limit-concurrency",
                str(MAX_CONNECTIONS),
            ),
            health=partial(http_ok, f"{settings.ui_url}/ui/live"),
            address=settings.ui_url,
            depends_on=("api",),
            port=settings.ui_port,
            env={
                **handed_down(settings),
                KEY_FILE_VARIABLE: str(key_file(project)),
            },
            start_timeout=30,
        ),
    ]
    return {service.name: service for service in services}


def worker_services(
    project: Project, settings: Settings, prefect_env: Mapping[str, str]
) -> list[ServiceDefinition]:
    """``workers`` Prefect workers of the pool: ``worker``, ``worker-2``, … of
    ``worker_type`` (a Docker worker runs each flow run in a container of the
    project's image: pulpo.services.flow_containers)."""
    prefect = str(Path(sys.executable).with_name("prefect"))
    services = []
    for number in range(1, settings.workers + 1):
        name = "worker" if number == 1 else f"worker-{number}"
        prefect_name = worker_name(settings.work_pool, name)
        limit = (
            ()
            if settings.worker_limit is None
            else ("--limit", str(settings.worker_limit))
        )
        services.append(
            ServiceDefinition(
                name=name,
                description=f"Prefect {settings.worker_type} worker for pool "
                f"{settings.work_pool!r}",
                command=(
                    prefect,
                    "worker",
                    "start",
                    "--pool",
                    settings.work_pool,
                    "--type",
                    settings.worker_type,
                    "--name",
                    prefect_name,
                    *limit,
                ),  # fmt: skip
                health=partial(
                    worker_online,
                    settings.prefect_api_url,
                    settings.work_pool,
                    lambda: prefect_auth_string(project),
                    prefect_name,
                ),
                address=f"pool {settings.work_pool}"
                + (
                    ""
                    if settings.worker_limit is None
                    else f", {settings.worker_limit} at once"
                ),
                depends_on=("db", "prefect"),
                env={
                    **prefect_env,
                    "PREFECT_API_URL": settings.prefect_api_url,
                    **handed_down(settings),
                },
                defaults={
                    "PREFECT_WORKER_QUERY_SECONDS": f"{settings.worker_poll_seconds:g}",
                    "PREFECT_WORKER_PREFETCH_SECONDS": "2",
                    # The server calls a worker offline after three missed heartbeats.
                    "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
                },
                secret_env=partial(prefect_client_auth, project),
                preflight=require_prefect_docker
                if settings.worker_type == "docker"
                else None,
                group="worker",
            )
        )
    return services


def worker_name(work_pool: str, service: str) -> str:
    """The name worker ``service`` (``worker``, ``worker-2``…) has on the Prefect server.

    Its own name lets a run tell whether a worker Prefect still lists as online is
    one of pulpo's that has stopped (pulpo.run_admin).
    """
    return f"{work_pool}-{service}"


def prefect_environment(project: Project, settings: Settings) -> dict[str, str]:
    """Prefect settings shared by the server, the worker and pulpo's own runs."""
    return {
        "PREFECT_HOME": str(project.data_dir / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # Flow results are stored as files so that whoever started a run can read them.
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_LOCAL_STORAGE_PATH": str(project.data_dir / "results"),
        # log_format = "json": one configuration for the server, workers, their flow
        # runs and the API (they all configure logging through Prefect).
        **logging_environment(settings.log_format),
    }


def prefect_client_auth(project: Project) -> dict[str, str]:
    """What a Prefect client needs to talk to the project's server."""
    return {"PREFECT_API_AUTH_STRING": prefect_auth_string(project)}


def with_database(settings: Settings) -> Settings:
    """``settings`` for runs while the project's database serves: flows use it unless
    ``MONGODB_URL`` names another one."""
    return settings.model_copy(update={"mongodb_url": settings.db_url})


def handed_down(settings: Settings) -> dict[str, str]:
    """The environment of a service process: the project's settings, database included
    (read back there with ``Settings.from_environment``)."""
    return with_database(settings).environment()


def _server_database(settings: Settings) -> dict[str, str]:
    if settings.prefect_database_url:
        return {"PREFECT_API_DATABASE_CONNECTION_URL": settings.prefect_database_url}
    return {}
