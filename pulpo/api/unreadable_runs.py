"""Listing flow runs around the few the Prefect server cannot return.

A run stored by other means with data Prefect cannot serialize (a lone surrogate in
its parameters) makes the server answer 500 for every page that holds it, and close the
connection, which Prefect's client then waits two seconds to retry. Here the page's run
ids come from Prefect's UI history route (no parameters in it), and the runs are read
in halves around the unreadable ones, on connections of their own.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from uuid import UUID

import httpx

logger = logging.getLogger("pulpo.api")


async def runs_around_unreadable(
    filters: dict[str, Any], sort: Any, limit: int
) -> tuple[list[Any], list[UUID]]:
    """Up to ``limit`` runs matching ``filters``, and the ids of those left out."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    headers = {}
    if auth := PREFECT_API_AUTH_STRING.value():
        headers["Authorization"] = f"Basic {base64.b64encode(auth.encode()).decode()}"
    body: dict[str, Any] = {
        name: value.model_dump(mode="json", exclude_unset=True)
        for name, value in (
            ("flow_runs", filters.get("flow_run_filter")),
            ("deployments", filters.get("deployment_filter")),
        )
        if value is not None
    }
    async with httpx.AsyncClient(
        base_url=f"{PREFECT_API_URL.value().rstrip('/')}/",
        headers=headers,
        timeout=30,
        # The server closes the connection after each 500: never reuse one.
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        history = await client.post(
            "ui/flow_runs/history",
            json={**body, "sort": str(sort.value), "limit": limit},
        )
        history.raise_for_status()
        ids = [str(run["id"]) for run in history.json()]
        return await _halving(client, str(sort.value), ids)


async def _halving(
    client: httpx.AsyncClient, sort: str, ids: list[str]
) -> tuple[list[Any], list[UUID]]:
    from prefect.client.schemas.objects import FlowRun

    if not ids:
        return [], []
    response = await client.post(
        "flow_runs/filter",
        json={"flow_runs": {"id": {"any_": ids}}, "sort": sort, "limit": len(ids)},
    )
    if response.status_code != 500:
        response.raise_for_status()
        return FlowRun.model_validate_list(response.json()), []
    if len(ids) == 1:
        logger.warning(
            "the Prefect server cannot return run %s (see `pulpo logs prefect`); "
            "listings leave it out",
            ids[0],
        )
        return [], [UUID(ids[0])]
    half = len(ids) // 2
    first, left_out = await _halving(client, sort, ids[:half])
    rest, left_out_after = await _halving(client, sort, ids[half:])
    return [*first, *rest], [*left_out, *left_out_after]
