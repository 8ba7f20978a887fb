"""API throughput: requests per second and p50/p99 latency of a CRUD list and a create.

    python benchmarks/api.py [--requests 3000] [--concurrency 16] [--seconds 20]

Brings up a temporary copy of examples/jobhunter on free ports (`pulpo up`), seeds
documents, then drives the API from a keep-alive HTTP/1.1 load generator on loopback.
Each scenario stops after --requests requests or --seconds, whichever comes first.
The load generator shares the machine's cores with the API, the database and Prefect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from example_stack import PULPO, example_copy, milliseconds_at

KEY = "benchmark-key"


def request_bytes(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> int:
    """Send one request, read the whole response; return its status code."""
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1])
        for line in lines
        if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return status


async def load(
    port: int,
    make_request: Callable[[int], bytes],
    total: int,
    concurrency: int,
    seconds: float,
) -> tuple[float, list[float], int]:
    """Run up to ``total`` requests on ``concurrency`` connections within ``seconds``."""
    latencies: list[float] = []
    failures = 0
    counter = iter(range(total))
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in counter:
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                status = await exchange(reader, writer, make_request(index))
                latencies.append(time.perf_counter() - started)
                failures += status >= 300
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def report(name: str, elapsed: float, latencies: list[float], failures: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = milliseconds_at(ordered, 0.99)
    print(
        f"{name:<46} {len(ordered) / elapsed:8.0f} req/s   p50 {p50:6.1f} ms   "
        f"p99 {p99:6.1f} ms   ({len(ordered)} requests, {failures} not 2xx)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed-documents", type=int, default=1000)
    args = parser.parse_args()
    with example_copy(PULPO_API_KEYS=KEY) as (project, env):
        port = int(env["PULPO_API_PORT"])
        subprocess.run(
            [PULPO, "up"], cwd=project, env=env, check=True, capture_output=True
        )
        try:
            asyncio.run(scenarios(port, args))
        finally:
            subprocess.run([PULPO, "down"], cwd=project, env=env, capture_output=True)
    return 0


async def scenarios(port: int, args: argparse.Namespace) -> None:
    def create(prefix: str) -> Callable[[int], bytes]:
        def make(index: int) -> bytes:
            body = {
                "url": f"https://jobs.example/{prefix}/{index}",
                "title": f"Python developer {index}",
                "company": "Acme",
                "source": "bench",
                "keywords": "python",
            }
            return request_bytes(
                "POST", "/api/v1/job-records", port, json.dumps(body).encode()
            )

        return make

    await load(port, create("seed"), args.seed_documents, 8, 120)
    listing = request_bytes("GET", "/api/v1/job-records?limit=20&sort=-url", port)
    await load(port, lambda _: listing, 200, args.concurrency, 10)  # warm-up
    print(
        f"concurrency {args.concurrency}, at most {args.requests} requests or "
        f"{args.seconds:.0f} s per scenario, {args.seed_documents} documents stored"
    )
    report(
        "GET /api/v1/job-records?limit=20&sort=-url",
        *await load(
            port, lambda _: listing, args.requests, args.concurrency, args.seconds
        ),
    )
    filtered = request_bytes(
        "GET", "/api/v1/job-records?limit=20&company=Acme&sort=-url", port
    )
    report(
        "GET …?limit=20&company=Acme&sort=-url",
        *await load(
            port, lambda _: filtered, args.requests, args.concurrency, args.seconds
        ),
    )
    report(
        "POST /api/v1/job-records",
        *await load(
            port, create("load"), args.requests, args.concurrency, args.seconds
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
