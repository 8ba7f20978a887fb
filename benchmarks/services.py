"""Service timings: `pulpo up` until healthy, a flow run against the server versus
ephemeral Prefect, the first run that starts the project's server, and `pulpo down`.

    python benchmarks/services.py [--runs 3]

Works on a temporary copy of examples/jobhunter with free ports; prints seconds.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from example_stack import PULPO, example_copy


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([PULPO, *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with example_copy() as (project, env):
        run = ["prefect", "run", "scraping_flow", "--param", "keywords=python"]
        timed(["build"], project, env)
        try:
            ephemeral = [
                timed([*run, "--ephemeral"], project, env) for _ in range(runs)
            ]
            starting = timed(run, project, env)  # starts the project's Prefect server
            reusing = [timed(run, project, env) for _ in range(runs)]
            timed(["down"], project, env)
            up_cold = timed(["up"], project, env)
            against_server = [timed(run, project, env) for _ in range(runs)]
            down = timed(["down"], project, env)
            up_warm = timed(["up"], project, env)
        finally:
            timed(["down"], project, env)
    print(f"pulpo up, first start (new Prefect database)  {up_cold:6.2f} s")
    print(f"pulpo up, again (existing data)                {up_warm:6.2f} s")
    print(
        f"pulpo prefect run scraping_flow, ephemeral     {statistics.median(ephemeral):6.2f} s (median of {runs})"
    )
    print(f"pulpo prefect run scraping_flow, starts server {starting:6.2f} s")
    print(
        f"pulpo prefect run scraping_flow, reuses it     {statistics.median(reusing):6.2f} s (median of {runs})"
    )
    print(
        f"pulpo prefect run scraping_flow, server up     {statistics.median(against_server):6.2f} s (median of {runs})"
    )
    print(f"pulpo down                                     {down:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
