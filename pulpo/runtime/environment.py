"""Prefect settings for runs of a pulpo project; applied before Prefect is imported."""

from __future__ import annotations

import os
from pathlib import Path

# In the project's data directory (pulpo.project.Project.data_dir), not in run_cache/.
DATA_DIR = ".pulpo"
USER_PROFILES = Path.home() / ".prefect" / "profiles.toml"
# Prefect's logging.yml can be overridden key by key from the environment; this is the
# level of its ``prefect.task_runs`` logger (console and API handlers alike).
TASK_RUNS_LEVEL = "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"
STORAGE_PATH = "PREFECT_LOCAL_STORAGE_PATH"


def user_configured_prefect() -> bool:
    """True when the user chose a Prefect API or home, by environment or profile."""
    return bool(
        os.environ.get("PREFECT_API_URL")
        or os.environ.get("PREFECT_HOME")
        or os.environ.get("PREFECT_PROFILES_PATH")
        or USER_PROFILES.exists()
    )


def _user_prefect_home() -> bool:
    """True when the user's own Prefect home or profiles decide its settings."""
    return bool(
        os.environ.get("PREFECT_HOME")
        or os.environ.get("PREFECT_PROFILES_PATH")
        or os.environ.get("PREFECT_RESULTS_LOCAL_STORAGE_PATH")
        or USER_PROFILES.exists()
    )


def configure_prefect(
    project_root: Path,
    task_logs: str = "info",
    data_dir: Path | None = None,
    log_format: str = "text",
) -> None:
    """Point Prefect at the project's own home unless the user configured one.

    Without ``PREFECT_API_URL`` Prefect then runs in ephemeral mode with its database
    in the project's data directory (``.pulpo/prefect``). Results persist in
    ``.pulpo/results`` (``PREFECT_LOCAL_STORAGE_PATH``) unless the user chose a Prefect
    home, profile or storage path. Telemetry is off by default: it fails offline.

    Args:
        project_root: The project directory.
        data_dir: The project's data directory (``Project.data_dir``); default
            ``.pulpo`` in the project.
        task_logs: ``"warning"`` drops Prefect's INFO lines per task run ("Finished in
            state Completed()"), which cost a noticeable share of each task's CPU time;
            ``"info"`` keeps Prefect's default. A level the user exported wins.
        log_format: ``"json"`` writes every log line as a JSON object
            (``pulpo.observe.logs``), unless the user chose a logging configuration.
    """
    from pulpo.observe.logs import use_log_format

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if task_logs != "info":
        os.environ.setdefault(TASK_RUNS_LEVEL, task_logs.upper())
    use_log_format(log_format)
    data = data_dir or project_root / DATA_DIR
    if not _user_prefect_home():
        # Where results persist, cached operation results among them: the same place
        # for runs on any server and for the worker's (services.definitions).
        os.environ.setdefault(STORAGE_PATH, str(data / "results"))
    if not user_configured_prefect():
        home = data / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)
