"""The project's Prefect server on PostgreSQL (prefect_database_url), end to end.

A throwaway cluster (tests/support/postgres.py) serves Prefect's database; a copy of
the example runs a deployment through the worker, and the run is in PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, free_port
from tests.support.postgres import Cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # Under /tmp itself: the server's user cannot enter pytest's root-only folders.
    folder = Path(tempfile.mkdtemp(prefix="pulpo-postgres-"))
    cluster = Cluster(folder, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_prefect_stores_its_runs_in_postgresql(
    cluster: Cluster, tmp_path: Path
) -> None:
    stack = Stack.copy_of_example(tmp_path)
    # A plain libpq URL: pulpo gives it the asyncpg driver Prefect needs.
    stack.env["PULPO_PREFECT_DATABASE_URL"] = cluster.url
    try:
        up = stack.pulpo("up")
        assert up.returncode == 0, up.stderr[-3000:]
        run = stack.pulpo("prefect", "run", "scraping_flow", "--deployment")
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads(run.stdout)["scraping.merge"]["postings"]
        completed = cluster.query(
            "select count(*) from flow_run where state_type = 'COMPLETED'"
        )
        assert int(completed) >= 1
        assert not (stack.root / ".pulpo" / "prefect" / "prefect.db").exists()
        assert stack.pulpo("down").returncode == 0

        cluster.stop()
        again = stack.pulpo("up")
        assert again.returncode == 1
        lines = [line for line in again.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in again.stderr, again.stderr
        assert lines[0].startswith("error: the Prefect database postgresql+asyncpg://")
        assert (
            "does not answer" in lines[0] and "PULPO_PREFECT_DATABASE_URL" in lines[0]
        )
    finally:
        stack.pulpo("down")
