"""Prefect settings for runs of a pulpo project; applied before Prefect is imported."""

from __future__ import annotations

import os
from pathlib import Path

PREFECT_DIR = Path("run_cache") / "prefect"
USER_PROFILES = Path.home() / ".prefect" / "profiles.toml"
# Prefect's logging.yml can be overridden key by key from the environment; this is the
# level of its ``prefect.task_runs`` logger (console and API handlers alike).
TASK_RUNS_LEVEL = "PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL"


def user_configured_prefect() -> bool:
    """True when the user chose a Prefect API or home, by environment or profile."""
    return bool(
        os.environ.get("PREFECT_API_URL")
        or os.environ.get("PREFECT_HOME")
        or os.environ.get("PREFECT_PROFILES_PATH")
        or USER_PROFILES.exists()
    )


def configure_prefect(project_root: Path, task_logs: str = "info") -> None:
    """Point Prefect at the project's own home under ``run_cache/`` unless configured.

    Without ``PREFECT_API_URL`` Prefect then runs in ephemeral mode with its database
    under ``run_cache/prefect``. Telemetry is off by default: it fails offline.

    Args:
        project_root: The project directory.
        task_logs: ``"warning"`` drops Prefect's INFO lines per task run ("Finished in
            state Completed()"), which cost a noticeable share of each task's CPU time;
            ``"info"`` keeps Prefect's default. A level the user exported wins.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if task_logs != "info":
        os.environ.setdefault(TASK_RUNS_LEVEL, task_logs.upper())
    if not user_configured_prefect():
        home = project_root / PREFECT_DIR
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)
