"""Prefect on SQLite against Prefect on PostgreSQL: submissions and draining a queue.

    python benchmarks/prefect_database.py [--runs 500] [--clients 16] [--rounds 1]
        [--backends sqlite,postgres]

For each backend a temporary copy of examples/jobhunter is brought up (`pulpo up`),
its worker is stopped, and ``--runs`` runs of `healthcheck_flow` are submitted through
the API by ``--clients`` concurrent clients (the queue fills, nothing runs). Then the
worker is started and the time until every run has completed is measured. PostgreSQL
is a throwaway cluster (Debian's binaries, `tests/support/postgres.py`) on this
machine, set with PULPO_PREFECT_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from example_stack import PULPO, REPO, example_copy, free_port
from submissions import api_submitter, drive

sys.path.insert(0, str(REPO))
from tests.support.postgres import Cluster  # noqa: E402

KEY = "benchmark-key"


async def submit_all(port: int, args: argparse.Namespace) -> tuple[float, int]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-API-Key": KEY},
        timeout=120,
        limits=httpx.Limits(max_connections=args.clients),
    ) as http:
        elapsed, _, refused = await drive(api_submitter(http), args.runs, args.clients)
        return elapsed, refused


def completed(port: int) -> dict[str, int]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/processing-status",
        headers={"X-API-Key": KEY},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()


def measure(backend: str, args: argparse.Namespace) -> None:
    settings = {"PULPO_API_KEYS": KEY}
    cluster = None
    scratch = Path(tempfile.mkdtemp(prefix="pulpo-bench-pg-"))
    if backend == "postgres":
        cluster = Cluster(scratch, free_port())
        settings["PULPO_PREFECT_DATABASE_URL"] = cluster.start()
    try:
        with example_copy(**settings) as (project, env):
            subprocess.run(
                [PULPO, "up"], cwd=project, env=env, check=True, capture_output=True
            )
            try:
                subprocess.run(
                    [PULPO, "worker", "stop"], cwd=project, env=env, check=True,
                    capture_output=True,
                )  # fmt: skip
                port = int(env["PULPO_API_PORT"])
                elapsed, refused = asyncio.run(submit_all(port, args))
                accepted = args.runs - refused
                started = time.perf_counter()
                subprocess.run(
                    [PULPO, "worker", "start"], cwd=project, env=env, check=True,
                    capture_output=True,
                )  # fmt: skip
                while True:
                    counts = completed(port)
                    done = counts["completed_count"] + counts["failed_count"]
                    if done >= accepted:
                        break
                    time.sleep(1)
                drained = time.perf_counter() - started
                print(
                    f"{backend:<9} submitted {accepted} in {elapsed:6.1f} s "
                    f"({accepted / elapsed:5.1f} runs/s, {refused} refused); drained "
                    f"in {drained:6.1f} s ({counts['failed_count']} failed)"
                )
            finally:
                subprocess.run(
                    [PULPO, "down"], cwd=project, env=env, capture_output=True
                )
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    print(f"{args.runs} runs of healthcheck_flow, {args.clients} clients")
    for _ in range(args.rounds):
        for backend in args.backends.split(","):
            measure(backend, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
