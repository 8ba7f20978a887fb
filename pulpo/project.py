"""A user project: the directory whose pyproject.toml has a ``[tool.pulpo]`` table."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulpo.errors import ProjectError

if TYPE_CHECKING:
    from pulpo.settings import Settings

CONFIG_FILE = "pyproject.toml"
DATA_SUBDIRS = ("db", "prefect", "results", "secrets")


@dataclass(frozen=True)
class Project:
    """Where a project lives and its settings (``[tool.pulpo]`` and the environment)."""

    root: Path
    settings: Settings
    config_file: Path | None = None

    @property
    def modules(self) -> tuple[str, ...]:
        return self.settings.modules

    @property
    def run_cache(self) -> Path:
        return self.root / "run_cache"

    @property
    def data_dir(self) -> Path:
        """Where the project's persistent state lives: the database, Prefect's history,
        flow results and the API key. Never inside the disposable ``run_cache/``.

        ``data_dir`` in ``[tool.pulpo]`` or ``PULPO_DATA_DIR`` (relative to the project).
        """
        return self.root / self.settings.data_dir

    @property
    def orchestration_dir(self) -> Path:
        return self.run_cache / "orchestration"

    @property
    def api_dir(self) -> Path:
        return self.run_cache / "api"

    @property
    def name(self) -> str:
        """A short identifier for the project (its directory name)."""
        return project_name(self.root)

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
        from pulpo.settings import Settings  # pydantic: not on the `--help` path

        origin = Path(start or Path.cwd()).resolve()
        for folder in (origin, *origin.parents):
            config = folder / CONFIG_FILE
            if config.is_file():
                table = _pulpo_table(config)
                if table is not None:
                    settings = Settings.load(
                        table, project_name=project_name(folder), config_file=config
                    )
                    return cls(root=folder, settings=settings, config_file=config)
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


def project_name(root: Path) -> str:
    """A short identifier for the project at ``root`` (its directory name)."""
    return "".join(c if c.isalnum() else "_" for c in root.name).strip("_") or "pulpo"
