"""Every setting of a pulpo project in one model: ``[tool.pulpo]`` keys with
``PULPO_*`` environment overrides (``MONGODB_URL`` for the database).

The command that starts work reads the settings once (``Settings.load``) and hands
them to the processes it starts as environment variables (``Settings.environment``);
a process started that way reads the same values back with
``Settings.from_environment``. Nothing else in pulpo reads ``PULPO_*`` variables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from pulpo.database_urls import with_driver
from pulpo.durations import parse_duration
from pulpo.errors import ProjectError, did_you_mean
from pulpo.schedules import HOW as SCHEDULE_HOW
from pulpo.schedules import FlowSchedule, parse_schedule

# Chosen away from the usual development ports (27017, 4200, 5432, 8000, 8080, 3000).
DEFAULT_DB_PORT = 47017
DEFAULT_PREFECT_PORT = 47200
DEFAULT_API_PORT = 47800
DEFAULT_UI_PORT = 47300
DATA_DIR = ".pulpo"

TaskRunner = Literal["threads", "processes", "dask"]
TaskLogs = Literal["info", "warning"]
Backend = Literal["processes", "docker"]
WorkerType = Literal["process", "docker"]
LogFormat = Literal["text", "json"]
Port = Annotated[int, Field(ge=1024, le=65535)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# Read from the environment only: secrets do not belong in a committed pyproject.toml.
ENVIRONMENT_ONLY = ("api_keys", "api_key_file")

EXPECTED = {
    "modules": 'a non-empty list of module names, e.g. modules = ["myproject.operations"]',
    "host": "a loopback address (127.0.0.1, ::1 or localhost)",
    "api_host": "a host name or address to serve the API on",
    "auth": "'key' (every /api/v1 request needs an API key) or 'none'",
    "run_concurrency": "a whole number of flow runs from 1 to 1000",
    "workers": "a whole number of workers from 1 to 32",
    "metrics_public": "true or false",
    "run_retention": 'a duration such as "30d", "12h" or "90m"',
    "worker_limit": "a whole number of flow runs per worker from 1 to 1000",
    "worker_poll_seconds": "seconds between a worker's polls, above 0 and at most 300",
    "db_port": "a port number from 1024 to 65535",
    "prefect_port": "a port number from 1024 to 65535",
    "api_port": "a port number from 1024 to 65535",
    "ui_host": "a loopback address (127.0.0.1, ::1 or localhost)",
    "ui_port": "a port number from 1024 to 65535",
    "database": "a database name",
    "work_pool": "a work pool name",
    "mongodb_url": 'a MongoDB URL such as "mongodb://db.example:27017"',
    "prefect_database_url": "a SQLAlchemy URL",
    "cors_origins": 'a list of origins such as ["http://localhost:5173"]',
    "task_runner": "one of 'threads', 'processes', 'dask'",
    "dask_address": 'a scheduler address such as "tcp://127.0.0.1:8786"',
    "flows": "one table per flow, e.g. [tool.pulpo.flows.crunch_flow]",
    "schedule": 'a cron line, an interval ("30s", "5m") or an RRULE',
    "timezone": "an IANA time zone name such as 'Europe/Madrid'",
    "retry_crashed": "a whole number of new runs from 0 to 100",
    "resources": "one table per resource, e.g. [tool.pulpo.resources.llm]",
    "flow_timeout": "a number of seconds > 0",
    "timeout": "a number of seconds > 0",
    "local_server": "true or false",
    "task_logs": "one of 'info', 'warning'",
    "log_format": "one of 'text', 'json'",
    "tracing": "true or false",
    "data_dir": "a directory, relative to the project",
    "api_keys": "comma-separated keys",
    "backend": "one of 'processes', 'docker'",
    "worker_type": "one of 'process', 'docker'",
    "base_image": 'an image with Python, e.g. "python:3.11-slim"',
    "db_image": 'an image of a MongoDB server, e.g. "mongo:7"',
    "prefect_image": 'an image with Prefect 3, e.g. "prefecthq/prefect:3-python3.11"',
    "api_key_file": "a file path",
}


class Explained(ValueError):
    """A validation problem whose message is the whole sentence to show."""


class FlowSettings(BaseModel):
    """``[tool.pulpo.flows.<flow>]``: settings of one flow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_runner: TaskRunner | None = None
    # Seconds a run of this flow may take; then it fails and its operations stop.
    timeout: Seconds | None = None
    # When the deployment runs by itself (pulpo.schedules): cron, interval or RRULE.
    schedule: str | float | None = None
    timezone: str | None = None
    # New runs to start for a run whose process was lost (crashed), one after another.
    retry_crashed: Annotated[int, Field(ge=0, le=100)] = 0

    @field_validator("schedule", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: object) -> object:
        if isinstance(value, bool):  # pydantic would read true as 1.0 seconds
            raise Explained(f"schedule must be {SCHEDULE_HOW} (got {value!r})")
        return value

    @model_validator(mode="after")
    def _valid_schedule(self) -> FlowSettings:
        if self.schedule is None and self.timezone is not None:
            raise Explained("timezone needs a schedule; add schedule = ...")
        self.flow_schedule  # noqa: B018 - parses, raising the sentence to show
        return self

    @property
    def flow_schedule(self) -> FlowSchedule | None:
        """The parsed ``schedule``, or None."""
        if self.schedule is None:
            return None
        try:
            return parse_schedule(self.schedule, self.timezone)
        except ValueError as error:
            raise Explained(str(error)) from None


class Settings(BaseSettings):
    """Everything a project configures, validated once.

    ``local_server``: a run that finds no Prefect server starts the project's own
    (else it runs on Prefect's temporary one). ``task_logs``: the lowest level of
    Prefect's per-task log lines in runs. ``database`` and ``work_pool`` default to
    names derived from the project (``Settings.load``).
    """

    model_config = SettingsConfigDict(
        env_prefix="PULPO_", extra="forbid", frozen=True, populate_by_name=True
    )

    modules: Annotated[tuple[str, ...], NoDecode] = ()
    host: str = "127.0.0.1"
    api_host: str = "127.0.0.1"
    auth: Literal["key", "none"] = "key"
    run_concurrency: Annotated[int, Field(ge=1, le=1000)] = 4
    metrics_public: bool = False
    # How long ended runs are kept before the API service deletes them; None: kept.
    run_retention: str | None = None
    workers: Annotated[int, Field(ge=1, le=32)] = 1
    worker_limit: Annotated[int, Field(ge=1, le=1000)] | None = None
    worker_poll_seconds: Annotated[float, Field(gt=0, le=300)] = 1.0
    db_port: Port = DEFAULT_DB_PORT
    prefect_port: Port = DEFAULT_PREFECT_PORT
    api_port: Port = DEFAULT_API_PORT
    ui_host: str = "127.0.0.1"
    ui_port: Port = DEFAULT_UI_PORT
    database: str = "pulpo"
    work_pool: str = "pulpo"
    mongodb_url: str | None = Field(
        default=None, validation_alias=AliasChoices("MONGODB_URL", "mongodb_url")
    )
    prefect_database_url: str | None = None
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    task_runner: TaskRunner = "threads"
    dask_address: str | None = None
    flows: dict[str, FlowSettings] = {}
    # [tool.pulpo.resources.<name>]: settings of each @resource provider.
    resources: dict[str, dict[str, Any]] = {}
    flow_timeout: Seconds | None = None
    local_server: bool = True
    task_logs: TaskLogs = "info"
    # "json": one JSON object per log line in runs, workers and the API (pulpo.observe).
    log_format: LogFormat = "text"
    # OpenTelemetry spans of API requests, flow runs and operations (pulpo.observe).
    tracing: bool = False
    data_dir: str = DATA_DIR
    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    api_key_file: str | None = None
    # Where services run: local processes, or containers of the project's image.
    backend: Backend = "processes"
    # How workers run flow runs: as processes, or as containers of the project's image
    # through a Prefect Docker work pool (pulpo.services.flow_containers).
    worker_type: WorkerType = "process"
    # What the project's image starts from (default: python:<this minor>-slim).
    base_image: str | None = None
    # backend = "docker": the db and prefect services from these images instead of
    # the project's (a MongoDB server serving /data/db on 27017; Prefect 3).
    db_image: str | None = None
    prefect_image: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, which comes in as init arguments.
        return env_settings, init_settings

    @field_validator("modules")
    @classmethod
    def _module_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        modules = tuple(module.strip() for module in value if module.strip())
        if not all(all(p.isidentifier() for p in m.split(".")) for m in modules):
            raise ValueError("not module names")
        return modules

    @model_validator(mode="after")
    def _open_only_on_loopback(self) -> Settings:
        if self.auth == "none" and not _is_loopback(self.api_host):
            raise Explained(
                f"auth = 'none' would let anyone who reaches {self.api_host} use the "
                f"API; it is allowed only with api_host on loopback"
            )
        return self

    @field_validator("host")
    @classmethod
    def _loopback(cls, value: str) -> str:
        if not _is_loopback(value):
            raise Explained(
                f"host {value!r} would let anyone who reaches it write to the database "
                f"and run code through Prefect; keep host on loopback (127.0.0.1) and "
                f"set api_host (PULPO_API_HOST) to serve the API elsewhere"
            )
        return value

    @field_validator("run_retention", mode="before")
    @classmethod
    def _retention_is_a_duration(cls, value: object) -> object:
        if value is None or value == "":
            return None
        try:
            seconds = parse_duration(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            seconds = 0.0
        if not seconds > 0:
            raise Explained(
                f'run_retention must be a duration such as "30d", "12h" or '
                f'"90m" (got {value!r})'
            )
        return str(value)

    @field_validator("ui_host")
    @classmethod
    def _ui_on_loopback(cls, value: str) -> str:
        # The UI server calls the API with the project's key for whoever reaches it
        # and has no sign-in of its own (docs/decisions/0019-ui-service.md).
        if not _is_loopback(value):
            raise Explained(
                f"ui_host {value!r} would let anyone who reaches it use the API with "
                f"the project's key (the UI has no sign-in); keep ui_host on loopback "
                f"(127.0.0.1) and reach it through an SSH tunnel "
                f"(ssh -L 47300:127.0.0.1:47300 HOST) or a proxy that authenticates"
            )
        return value

    @field_validator(
        "mongodb_url",
        "prefect_database_url",
        "dask_address",
        "worker_limit",
        "flow_timeout",
        "base_image",
        "db_image",
        "prefect_image",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("prefect_database_url")
    @classmethod
    def _prefect_driver(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return with_driver(value)
        except ValueError as error:
            raise Explained(
                f"prefect_database_url (PULPO_PREFECT_DATABASE_URL) is {error}"
            ) from None

    @field_validator("dask_address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError("not a scheduler address")
        return value

    @field_validator("modules", "cors_origins", "api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        origins = tuple(item.strip().rstrip("/") for item in value if item.strip())
        for origin in origins:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise Explained(
                    f"cors_origins entry {origin!r} is not an origin; write it as "
                    f"scheme://host[:port], e.g. http://localhost:5173"
                )
        return origins

    @field_validator("api_keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(key.strip() for key in value if key.strip())

    @classmethod
    def load(
        cls, table: Mapping[str, Any], *, project_name: str, config_file: Path
    ) -> Settings:
        """Validate ``[tool.pulpo]`` of a project, with the environment on top.

        Raises:
            ProjectError: an unknown key, or a value of the wrong kind, naming the key
                and where to set it.
        """
        known = [name for name in cls.model_fields if name not in ENVIRONMENT_ONLY]
        for key in table:
            if key in ENVIRONMENT_ONLY:
                raise ProjectError.bad_config(
                    str(config_file),
                    f"{key} is read from {variable(key)} only: keep secrets out of "
                    f"pyproject.toml",
                )
            if key not in known:
                raise ProjectError.bad_config(
                    str(config_file),
                    f"unknown key {key!r}{did_you_mean(key, known)}; known keys: "
                    f"{', '.join(known)}",
                )
        if "modules" not in table:
            raise ProjectError.bad_config(
                str(config_file), f"modules must be {EXPECTED['modules']}"
            )
        defaults = {"database": project_name, "work_pool": f"pulpo-{project_name}"}
        try:
            settings = cls(**{**defaults, **table})
        except SettingsError as error:
            raise ProjectError.bad_config(
                str(config_file), _unreadable(error)
            ) from None
        except ValidationError as error:
            raise ProjectError.bad_config(str(config_file), _problem(error)) from None
        if not settings.modules:
            raise ProjectError.bad_config(
                str(config_file), f"modules must be {EXPECTED['modules']}"
            )
        return settings

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings a parent process handed down (see ``environment``).

        Remembered while those variables stay the same: tasks call this per run.

        Raises:
            ProjectError: a ``PULPO_*`` variable holds a value of the wrong kind.
        """
        handed = tuple(
            sorted(
                item
                for item in os.environ.items()
                if item[0].startswith("PULPO_") or item[0] == "MONGODB_URL"
            )
        )
        cached = _FROM_ENVIRONMENT.get(handed)
        if cached is None:
            cached = _FROM_ENVIRONMENT[handed] = cls._read_environment()
            while len(_FROM_ENVIRONMENT) > 8:  # a process sees few distinct ones
                del _FROM_ENVIRONMENT[next(iter(_FROM_ENVIRONMENT))]
        return cached

    @classmethod
    def _read_environment(cls) -> Settings:
        try:
            return cls()
        except SettingsError as error:
            raise ProjectError(
                f"invalid pulpo environment: {_unreadable(error)}"
            ) from None
        except ValidationError as error:
            raise ProjectError(
                f"invalid pulpo environment: {_problem(error)}"
            ) from None

    def environment(self) -> dict[str, str]:
        """These settings as the variables ``from_environment`` reads back."""
        values: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name in ENVIRONMENT_ONLY:
                continue  # secrets are handed down only where they are needed
            if isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, dict):
                text = json.dumps(
                    {
                        k: v.model_dump() if isinstance(v, BaseModel) else v
                        for k, v in value.items()
                    },
                    sort_keys=True,
                )
            elif isinstance(value, bool):
                text = "1" if value else "0"
            else:
                text = "" if value is None else str(value)
            values[variable(name)] = text
        return values

    @property
    def run_retention_seconds(self) -> float | None:
        """``run_retention`` in seconds, or None when runs are kept."""
        return (
            None if self.run_retention is None else parse_duration(self.run_retention)
        )

    @property
    def flow_task_runners(self) -> dict[str, TaskRunner]:
        """Flow name → task runner, for flows whose table sets one."""
        return {
            name: table.task_runner
            for name, table in self.flows.items()
            if table.task_runner is not None
        }

    def task_runner_of(self, flow: str) -> TaskRunner:
        """The task runner of ``flow``: its own table's, else the project's."""
        return self.flow_task_runners.get(flow, self.task_runner)

    @property
    def flow_timeouts(self) -> dict[str, float]:
        """Flow name → seconds, for flows whose table sets a ``timeout``."""
        return {
            name: table.timeout
            for name, table in self.flows.items()
            if table.timeout is not None
        }

    @property
    def prefect_api_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}/api"

    @property
    def api_url(self) -> str:
        """Where this machine reaches the API (loopback when it listens everywhere)."""
        host = self.host if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def ui_url(self) -> str:
        """Where a browser on this machine opens the UI."""
        host = f"[{self.ui_host}]" if ":" in self.ui_host else self.ui_host
        return f"http://{host}:{self.ui_port}"

    @property
    def embedded_db_url(self) -> str:
        return f"mongodb://{self.host}:{self.db_port}"

    @property
    def db_url(self) -> str:
        """The database flows use: ``MONGODB_URL`` when given, else the embedded one."""
        return self.mongodb_url or self.embedded_db_url


_FROM_ENVIRONMENT: dict[tuple[tuple[str, str], ...], Settings] = {}


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resource_variable(resource: str, setting: str) -> str:
    """The environment variable that sets ``setting`` of resource ``resource``."""
    return f"PULPO_RESOURCE_{resource.upper()}_{setting.upper()}"


def resource_values(resource: str, settings: Iterable[str]) -> dict[str, Any]:
    """The values set for a resource's settings: its ``PULPO_RESOURCE_*`` variables
    over its ``[tool.pulpo.resources.<name>]`` table (handed down in ``resources``)."""
    table = Settings.from_environment().resources.get(resource, {})
    values = {name: table[name] for name in settings if name in table}
    for name in settings:
        text = os.environ.get(resource_variable(resource, name))
        if text is not None:
            values[name] = text
    return values


def variable(name: str) -> str:
    """The environment variable of setting ``name``."""
    return "MONGODB_URL" if name == "mongodb_url" else f"PULPO_{name.upper()}"


def _problem(error: ValidationError) -> str:
    """One sentence for the first problem: the key, what it must be, where to set it."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    if isinstance(first.get("ctx", {}).get("error"), Explained):
        if location[:1] == ["flows"] and len(location) >= 2:  # say which table
            return f"[tool.pulpo.flows.{location[1]}] {first['ctx']['error']}"
        return str(first["ctx"]["error"])
    name = location[0]
    name = name.lower()
    if name == "flows" and len(location) >= 2:
        return _flow_problem(location, first)
    got = first.get("input")
    where = f"set it in [tool.pulpo] or with {variable(name)}"
    if name == "local_server":
        where += "=1 or 0"
    if name in ENVIRONMENT_ONLY:
        where = f"set {variable(name)}"
    expected = EXPECTED.get(name, "valid")
    mistyped = did_you_mean(str(got), _choices(name)) if isinstance(got, str) else ""
    return f"{name} must be {expected} (got {got!r}){mistyped}; {where}"


def _unreadable(error: SettingsError) -> str:
    """A variable pydantic-settings could not decode (JSON for tables)."""
    found = re.search(r'field "(\w+)"', str(error))
    if found is None:
        return str(error)
    name = found.group(1)
    return f"{variable(name)} must be {EXPECTED.get(name, 'valid')}, written as JSON"


def _flow_problem(location: list[str], first: Any) -> str:
    flow = location[1]
    if len(location) == 2:
        return f"flows must hold {EXPECTED['flows']} (got {first.get('input')!r})"
    key = location[2]
    if first["type"] == "extra_forbidden":
        known = list(FlowSettings.model_fields)
        return (
            f"unknown key {key!r} in [tool.pulpo.flows.{flow}]"
            f"{did_you_mean(key, known)}; known keys: {', '.join(known)}"
        )
    got = first.get("input")
    mistyped = did_you_mean(str(got), _choices(key)) if isinstance(got, str) else ""
    return (
        f"[tool.pulpo.flows.{flow}] {key} must be {EXPECTED.get(key, 'valid')} "
        f"(got {got!r}){mistyped}"
    )


def _choices(name: str) -> tuple[str, ...]:
    field = {
        "task_runner": TaskRunner,
        "task_logs": TaskLogs,
        "log_format": LogFormat,
        "backend": Backend,
        "worker_type": WorkerType,
    }.get(name)
    return get_args(field) if field is not None else ()


def export(settings: Settings) -> None:
    """Hand ``settings`` to this process's later reads and to every child it starts."""
    os.environ.update(settings.environment())


@contextmanager
def exported(settings: Settings) -> Iterator[None]:
    """``export`` for the duration of a run; the environment is restored afterwards,
    so that a later ``Settings.load`` in this process reads the user's values again."""
    variables = settings.environment()
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
