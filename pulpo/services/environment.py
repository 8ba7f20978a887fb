"""The environment pulpo's own runs use, given which services are up."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pulpo.project import Project
from pulpo.services import processes
from pulpo.services.definitions import (
    prefect_client_auth,
    prefect_environment,
    with_database,
)
from pulpo.services.manager import ServiceManager
from pulpo.settings import Settings


@dataclass(frozen=True)
class RunServices:
    """What a run of this process uses: the project's Prefect server or not, and the
    settings to hand to the run (``pulpo.settings.exported``), database included."""

    uses_server: bool
    settings: Settings


def use_running_services(project: Project) -> RunServices:
    """Point this process at the project's Prefect server when it runs, and its runs at
    the project's database when that runs.

    Must run before Prefect is imported. A Prefect API the user exported
    (``PREFECT_API_URL``) and a configured ``mongodb_url`` are left alone.
    """
    manager = ServiceManager(project)
    uses_server = False
    if not os.environ.get("PREFECT_API_URL") and _alive(manager, "prefect"):
        use_project_prefect(manager)
        uses_server = True
    settings = project.settings
    if settings.mongodb_url is None and _alive(manager, "db"):
        settings = with_database(settings)
    return RunServices(uses_server, settings)


def use_project_prefect(manager: ServiceManager) -> None:
    """Point this process at the project's Prefect server (before Prefect is imported)."""
    os.environ.update(prefect_environment(manager.project, manager.settings))
    os.environ.update(prefect_client_auth(manager.project))
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
