"""``run_retention``: the API service deletes ended runs older than it.

What ``pulpo prefect cleanup --older-than`` does by hand, done by the service: runs
that completed, failed or were cancelled longer ago than the retention are deleted
with their task runs and logs, at the API's start and then every quarter of the
retention (at least every second, at most every hour). Pending and processing runs
are never deleted, nor are other projects' runs on a shared server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pulpo.api.patience import patiently
from pulpo.run_control import cleanup_candidates, delete_runs

if TYPE_CHECKING:
    from pulpo.api.jobs import JobService

logger = logging.getLogger("pulpo.api")


def check_interval(retention: float) -> float:
    """Seconds between two passes for a retention of ``retention`` seconds."""
    return min(max(retention / 4, 1.0), 3600.0)


async def keep_runs_for(jobs: JobService, retention: float) -> None:
    """Delete the project's ended runs older than ``retention`` seconds, until
    cancelled."""
    while True:
        try:
            runs = await patiently(
                lambda: cleanup_candidates(jobs.client, jobs.deployments, retention)
            )
            deleted = await delete_runs(jobs.client, [run.run_id for run in runs])
            if deleted:
                logger.info(
                    "run_retention: deleted %d ended run(s) older than %g s",
                    len(deleted),
                    retention,
                )
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Prefect down or busy: the next pass tries again
            logger.warning("run_retention: cleanup skipped (%s)", error)
        await asyncio.sleep(check_interval(retention))
