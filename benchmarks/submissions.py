"""Run submissions: 100 runs submitted by 16 concurrent clients, through the API and,
side by side, straight to Prefect with its own client.

    python benchmarks/submissions.py [--runs 100] [--clients 16] [--rounds 3]
        [--scenarios api,prefect]

Each round brings up two temporary copies of examples/jobhunter (`pulpo up`, worker
running), one per scenario, and submits `healthcheck_flow` runs: each client sends its
next request when the last one is answered; through the API every request has its own
Idempotency-Key. Prints the time until all were accepted and the p50/p95 latency of one
submission. The worker starts the runs meanwhile, so submissions share the server's
SQLite database and the 2 cores with them, as they do in use.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from example_stack import PULPO, example_copy, milliseconds_at

KEY = "benchmark-key"


async def drive(
    submit: Callable[[], Awaitable[bool]], runs: int, clients: int
) -> tuple[float, list[float], int]:
    """Send ``runs`` submissions from ``clients`` concurrent loops."""
    remaining = runs
    latencies: list[float] = []
    failures = 0

    async def client() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            if not await submit():
                failures += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, latencies, failures


def report(name: str, elapsed: float, latencies: list[float], failures: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p95 = milliseconds_at(ordered, 0.95)
    print(
        f"{name:<34} {elapsed:6.1f} s for {len(ordered)}   p50 {p50:7.0f} ms   "
        f"p95 {p95:7.0f} ms   ({failures} refused)"
    )


def api_submitter(http: httpx.AsyncClient) -> Callable[[], Awaitable[bool]]:
    """One `healthcheck_flow` submission through the API, with its own key."""

    async def submit() -> bool:
        response = await http.post(
            "/api/v1/flows/healthcheck_flow/runs",
            json={"parameters": {}},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return response.status_code == 202

    return submit


async def through_the_api(port: int, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"X-API-Key": KEY},
        timeout=120,
        limits=httpx.Limits(max_connections=args.clients),
    ) as http:
        report(
            "POST /api/v1/flows/…/runs",
            *await drive(api_submitter(http), args.runs, args.clients),
        )


async def straight_to_prefect(
    project: Path, port: str, args: argparse.Namespace
) -> None:
    from prefect.client.orchestration import PrefectClient

    secret = Path(project, ".pulpo", "secrets", "prefect_auth").read_text().strip()
    async with PrefectClient(
        f"http://127.0.0.1:{port}/api", auth_string=f"pulpo:{secret}"
    ) as prefect:
        deployment = await prefect.read_deployment_by_name("healthcheck_flow/pulpo")

        async def submit() -> bool:
            await prefect.create_flow_run_from_deployment(deployment.id)
            return True

        report(
            "Prefect create_flow_run_from_deployment",
            *await drive(submit, args.runs, args.clients),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="api,prefect")
    args = parser.parse_args()
    print(f"{args.runs} submissions from {args.clients} clients, a fresh stack each")
    for _ in range(args.rounds):
        for scenario in args.scenarios.split(","):
            with example_copy(PULPO_API_KEYS=KEY) as (project, env):
                subprocess.run(
                    [PULPO, "up"], cwd=project, env=env, check=True, capture_output=True
                )
                try:
                    if scenario == "api":
                        asyncio.run(through_the_api(int(env["PULPO_API_PORT"]), args))
                    else:
                        port = env["PULPO_PREFECT_PORT"]
                        asyncio.run(straight_to_prefect(project, port, args))
                finally:
                    subprocess.run(
                        [PULPO, "down"], cwd=project, env=env, capture_output=True
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
