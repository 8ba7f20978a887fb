"""Where the services listen and how runs use them: ``[tool.pulpo]`` keys with
``PULPO_*`` overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from pulpo.errors import ProjectError
from pulpo.project import Project

# Chosen away from the usual development ports (27017, 4200, 5432, 8000, 8080, 3000).
DEFAULT_DB_PORT = 47017
DEFAULT_PREFECT_PORT = 47200
DEFAULT_API_PORT = 47800

TaskLogs = Literal["info", "warning"]
TASK_LOGS: tuple[TaskLogs, ...] = ("info", "warning")
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ServiceSettings:
    """Addresses and names the services use, and how ``pulpo prefect run`` uses them.

    ``local_server``: a run that finds no Prefect server starts the project's own
    (else it runs on Prefect's temporary one). ``task_logs``: the lowest level of
    Prefect's per-task log lines in runs.
    """

    host: str
    db_port: int
    prefect_port: int
    api_port: int
    database: str
    work_pool: str
    mongodb_url: str | None
    prefect_database_url: str | None
    cors_origins: tuple[str, ...] = ()
    local_server: bool = True
    task_logs: TaskLogs = "info"

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def embedded_db_url(self) -> str:
        return f"mongodb://{self.host}:{self.db_port}"

    @property
    def db_url(self) -> str:
        """The database flows use: ``MONGODB_URL`` when given, else the embedded one."""
        return self.mongodb_url or self.embedded_db_url

    @classmethod
    def load(cls, project: Project) -> ServiceSettings:
        """Read the settings of ``project``; the environment wins over the file.

        Raises:
            ProjectError: a port that is not a number between 1024 and 65535.
        """
        config = project.config

        def pick(key: str, env: str, default: object) -> object:
            """The environment, even empty (it clears), else the file, else default."""
            if env in os.environ:
                return os.environ[env]
            return config[key] if key in config else default

        return cls(
            host=str(pick("host", "PULPO_HOST", "127.0.0.1")),
            db_port=_port(
                project, "db_port", pick("db_port", "PULPO_DB_PORT", DEFAULT_DB_PORT)
            ),
            prefect_port=_port(
                project,
                "prefect_port",
                pick("prefect_port", "PULPO_PREFECT_PORT", DEFAULT_PREFECT_PORT),
            ),
            api_port=_port(
                project,
                "api_port",
                pick("api_port", "PULPO_API_PORT", DEFAULT_API_PORT),
            ),
            database=str(pick("database", "PULPO_DATABASE", project.name)),
            work_pool=str(
                pick("work_pool", "PULPO_WORK_POOL", f"pulpo-{project.name}")
            ),
            mongodb_url=str(pick("mongodb_url", "MONGODB_URL", "")) or None,
            prefect_database_url=str(
                pick("prefect_database_url", "PULPO_PREFECT_DATABASE_URL", "")
            )
            or None,
            cors_origins=_origins(
                project, pick("cors_origins", "PULPO_CORS_ORIGINS", [])
            ),
            local_server=_flag(
                project,
                "local_server",
                pick("local_server", "PULPO_LOCAL_SERVER", None),
                default=True,
            ),
            task_logs=_task_logs(project, pick("task_logs", "PULPO_TASK_LOGS", "info")),
        )


def _port(project: Project, key: str, value: object) -> int:
    try:
        port = int(str(value))
    except ValueError:
        port = -1
    if not 1024 <= port <= 65535:
        where = str(project.config_file or "pyproject.toml")
        raise ProjectError.bad_config(
            where,
            f"{key} must be a port number from 1024 to 65535 (got {value!r}); set it in "
            f"[tool.pulpo] or with PULPO_{key.upper()}",
        )
    return port


def _origins(project: Project, value: object) -> tuple[str, ...]:
    """Browser origins allowed to call the API: a list, or a comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(
        isinstance(item, str) for item in items
    ):
        raise ProjectError.bad_config(
            str(project.config_file or "pyproject.toml"),
            f"cors_origins must be a list of origins such as "
            f'["http://localhost:5173"] (got {value!r})',
        )
    origins = tuple(item.strip().rstrip("/") for item in items if item.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ProjectError.bad_config(
                str(project.config_file or "pyproject.toml"),
                f"cors_origins entry {origin!r} is not an origin; write it as "
                f"scheme://host[:port], e.g. http://localhost:5173",
            )
    return origins


def _flag(project: Project, key: str, value: object, default: bool) -> bool:
    """A boolean from TOML (``true``/``false``) or the environment (``1``/``0``…)."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ProjectError.bad_config(
        str(project.config_file or "pyproject.toml"),
        f"{key} must be true or false (got {value!r}); in the environment, "
        f"PULPO_{key.upper()}=1 or 0",
    )


def _task_logs(project: Project, value: object) -> TaskLogs:
    text = str(value).strip().lower()
    for choice in TASK_LOGS:
        if text == choice:
            return choice
    raise ProjectError.bad_config(
        str(project.config_file or "pyproject.toml"),
        f"task_logs must be one of {', '.join(map(repr, TASK_LOGS))} (got {value!r}); "
        f"set it in [tool.pulpo] or with PULPO_TASK_LOGS",
    )
