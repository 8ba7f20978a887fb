"""A user project: the directory whose pyproject.toml has a ``[tool.pulpo]`` table."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pulpo.errors import ProjectError, did_you_mean

CONFIG_FILE = "pyproject.toml"
KNOWN_KEYS = (
    "modules",
    "host",
    "db_port",
    "prefect_port",
    "database",
    "mongodb_url",
    "prefect_database_url",
    "work_pool",
    "api_port",
    "cors_origins",
    "task_runner",
    "dask_address",
    "flows",
    "local_server",
    "task_logs",
    "data_dir",
)
DATA_DIR = ".pulpo"
DATA_SUBDIRS = ("db", "prefect", "results", "secrets")
TASK_RUNNERS = ("threads", "processes", "dask")
FLOW_KEYS = ("task_runner",)


@dataclass(frozen=True)
class Project:
    """Where a project lives and what it declares in ``[tool.pulpo]``."""

    root: Path
    modules: tuple[str, ...]
    config: Mapping[str, Any] = field(default_factory=dict)
    config_file: Path | None = None

    @property
    def run_cache(self) -> Path:
        return self.root / "run_cache"

    @property
    def data_dir(self) -> Path:
        """Where the project's persistent state lives: the database, Prefect's history,
        flow results and the API key. Never inside the disposable ``run_cache/``.

        ``data_dir`` in ``[tool.pulpo]`` or ``PULPO_DATA_DIR`` (relative to the project).
        """
        configured = os.environ.get("PULPO_DATA_DIR") or self.config.get("data_dir")
        return self.root / str(configured or DATA_DIR)

    @property
    def orchestration_dir(self) -> Path:
        return self.run_cache / "orchestration"

    @property
    def api_dir(self) -> Path:
        return self.run_cache / "api"

    @property
    def name(self) -> str:
        """A short identifier for the project (its directory name)."""
        return (
            "".join(c if c.isalnum() else "_" for c in self.root.name).strip("_")
            or "pulpo"
        )

    @property
    def task_runner(self) -> str:
        """The task runner of every flow without its own ``[tool.pulpo.flows.X]``."""
        return str(self.config.get("task_runner", "threads"))

    @property
    def flow_task_runners(self) -> dict[str, str]:
        """Flow name → task runner, from ``[tool.pulpo.flows.<flow>] task_runner``."""
        flows = self.config.get("flows", {})
        return {
            name: str(table["task_runner"])
            for name, table in flows.items()
            if "task_runner" in table
        }

    @property
    def first_party(self) -> set[str]:
        """Top-level package names of the user's own code."""
        return {module.split(".")[0] for module in self.modules}

    @classmethod
    def find(cls, start: Path | str | None = None) -> Project:
        """Load the project at ``start`` (default: the working directory) or above it.

        Raises:
            ProjectError: no project found, or its configuration is invalid.
        """
        origin = Path(start or Path.cwd()).resolve()
        for folder in (origin, *origin.parents):
            config = folder / CONFIG_FILE
            if config.is_file():
                table = _pulpo_table(config)
                if table is not None:
                    return cls(
                        root=folder,
                        modules=_modules(config, table),
                        config=MappingProxyType(dict(table)),
                        config_file=config,
                    )
        raise ProjectError.no_project(str(origin))


def _pulpo_table(config: Path) -> dict[str, Any] | None:
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ProjectError.bad_config(str(config), f"not valid TOML: {error}") from None
    table = data.get("tool", {}).get("pulpo")
    if table is not None and not isinstance(table, dict):
        raise ProjectError.bad_config(str(config), "[tool.pulpo] must be a table")
    return table


def _modules(config: Path, table: dict[str, Any]) -> tuple[str, ...]:
    for key in table:
        if key not in KNOWN_KEYS:
            raise ProjectError.bad_config(
                str(config),
                f"unknown key {key!r}{did_you_mean(key, KNOWN_KEYS)}; known keys: "
                f"{', '.join(KNOWN_KEYS)}",
            )
    _check_task_runners(config, table)
    modules = table.get("modules")
    if (
        not isinstance(modules, list)
        or not modules
        or not all(isinstance(m, str) and _is_module_name(m) for m in modules)
    ):
        raise ProjectError.bad_config(
            str(config),
            "modules must be a non-empty list of module names, e.g. modules = "
            '["myproject.operations"]',
        )
    return tuple(modules)


def _check_task_runners(config: Path, table: dict[str, Any]) -> None:
    def check(where: str, value: object) -> None:
        if value not in TASK_RUNNERS:
            raise ProjectError.bad_config(
                str(config),
                f"{where} must be one of {', '.join(map(repr, TASK_RUNNERS))} (got "
                f"{value!r}){did_you_mean(str(value), TASK_RUNNERS)}",
            )

    if "task_runner" in table:
        check("task_runner", table["task_runner"])
    address = table.get("dask_address")
    if address is not None and not (isinstance(address, str) and "://" in address):
        raise ProjectError.bad_config(
            str(config),
            f"dask_address must be a scheduler address such as "
            f'"tcp://127.0.0.1:8786" (got {address!r})',
        )
    flows = table.get("flows", {})
    if not isinstance(flows, dict) or not all(
        isinstance(t, dict) for t in flows.values()
    ):
        raise ProjectError.bad_config(
            str(config),
            "flows must hold one table per flow, e.g. [tool.pulpo.flows.crunch_flow]",
        )
    for name, flow_table in flows.items():
        for key in flow_table:
            if key not in FLOW_KEYS:
                raise ProjectError.bad_config(
                    str(config),
                    f"unknown key {key!r} in [tool.pulpo.flows.{name}]"
                    f"{did_you_mean(key, FLOW_KEYS)}; known keys: {', '.join(FLOW_KEYS)}",
                )
        if "task_runner" in flow_table:
            check(f"[tool.pulpo.flows.{name}] task_runner", flow_table["task_runner"])


def _is_module_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))
