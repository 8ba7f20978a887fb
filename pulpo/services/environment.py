"""The environment pulpo's own runs use, given which services are up."""

from __future__ import annotations

import os

from pulpo.project import Project
from pulpo.services import processes
from pulpo.services.definitions import database_environment, prefect_environment
from pulpo.services.manager import ServiceManager


def use_running_services(project: Project) -> bool:
    """Point this process at the project's Prefect server and database when they run.

    Must run before Prefect is imported. Returns True when a server is used. Settings
    the user exported (``PREFECT_API_URL``, ``MONGODB_URL``) are left alone.
    """
    manager = ServiceManager(project)
    uses_server = False
    if not os.environ.get("PREFECT_API_URL") and _alive(manager, "prefect"):
        use_project_prefect(manager)
        uses_server = True
    if not os.environ.get("MONGODB_URL") and _alive(manager, "db"):
        os.environ.update(database_environment(manager.settings))
    elif os.environ.get("MONGODB_URL"):
        os.environ.setdefault("PULPO_DATABASE", manager.settings.database)
    return uses_server


def use_project_prefect(manager: ServiceManager) -> None:
    """Point this process at the project's Prefect server (before Prefect is imported)."""
    os.environ.update(prefect_environment(manager.project, manager.settings))
    os.environ["PREFECT_API_URL"] = manager.settings.prefect_api_url


def prefect_port_taken(manager: ServiceManager) -> str | None:
    """Who holds the port of the project's Prefect server, or None when it is free."""
    settings = manager.settings
    if processes.port_is_free(settings.host, settings.prefect_port):
        return None
    holders = [
        f"pid {pid} ({processes.command_line(pid)[:60]})"
        for pid in processes.port_holders(settings.prefect_port)
    ]
    return ", ".join(holders) or "another program"


def _alive(manager: ServiceManager, name: str) -> bool:
    return manager.backend.state(manager.services[name]).running
