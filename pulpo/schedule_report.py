"""Schedules in ``pulpo inspect``: what each flow's table says, and what the project's
Prefect server holds (paused or not, the next run) when it runs."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from pulpo.project import Project


def add_schedules(project: Project, flows: Sequence[dict[str, Any]]) -> None:
    """Set ``schedule`` on each flow entry whose ``[tool.pulpo.flows.<flow>]`` table
    has one: kind, value, timezone, description, ``next_run`` (ISO 8601), ``paused``
    (None when the server is not running) and ``source`` (``server`` or
    ``computed``)."""
    tables = project.settings.flows
    scheduled = {
        entry["name"]: schedule
        for entry in flows
        if (table := tables.get(entry["name"])) is not None
        and (schedule := table.flow_schedule) is not None
    }
    if not scheduled:
        return
    states = _server_states(project, list(scheduled))
    now = datetime.datetime.now(datetime.UTC)
    for entry in flows:
        schedule = scheduled.get(entry["name"])
        if schedule is None:
            continue
        computed = schedule.next_run(now)
        info: dict[str, Any] = {
            **schedule.as_dict(),
            "deployed": None,
            "paused": None,
            "next_run": computed.isoformat() if computed else None,
            "source": "computed",
        }
        state = states.get(entry["name"])
        if state is not None:
            info["deployed"] = state.deployed and state.has_schedule
            info["paused"] = state.paused if state.deployed else None
            if state.deployed and state.paused:
                info["next_run"] = None
            if state.next_run is not None:
                info["next_run"] = state.next_run.astimezone(schedule.zone).isoformat()
            info["source"] = "server"
        entry["schedule"] = info


def describe(info: dict[str, Any]) -> str:
    """``every 5 s, next 2026-12-05 09:00:05+00:00 (paused)`` for ``pulpo inspect``."""
    text = info["description"]
    if info.get("paused"):
        return f"{text}, paused (pulpo prefect schedule resume)"
    if info.get("deployed") is False:
        text += ", not deployed with it yet (pulpo prefect deploy)"
    if info.get("next_run"):
        text += f", next {info['next_run']}"
    return text


def _server_states(project: Project, flows: list[str]) -> dict[str, Any]:
    """The server's view of each flow, or nothing when the server is not running."""
    from pulpo.services.environment import use_running_services

    if not use_running_services(project).uses_server:
        return {}
    from pulpo import run_admin

    try:
        return run_admin.schedule_states(flows)
    except Exception:  # a busy or stopping server: show the computed times
        return {}
