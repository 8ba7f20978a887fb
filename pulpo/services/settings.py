"""Where the services listen: ``[tool.pulpo]`` keys with ``PULPO_*`` overrides."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pulpo.errors import ProjectError
from pulpo.project import Project

# Chosen away from the usual development ports (27017, 4200, 5432, 8000, 8080, 3000).
DEFAULT_DB_PORT = 47017
DEFAULT_PREFECT_PORT = 47200
DEFAULT_API_PORT = 47800


@dataclass(frozen=True)
class ServiceSettings:
    """Addresses and names the services use."""

    host: str
    db_port: int
    prefect_port: int
    api_port: int
    database: str
    work_pool: str
    mongodb_url: str | None
    prefect_database_url: str | None
    cors_origins: tuple[str, ...] = ()

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
            return os.environ.get(env) or config.get(key) or default

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
