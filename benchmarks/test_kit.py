"""How long pulpo.testing.run_flow takes: the first run of a process and later ones.

A 10-operation chain (tests/fixtures/kit, chain_flow), in this process, against
Prefect's test server, alternating with what a user would write without pulpo: a
hand-written Prefect flow of 10 chained tasks called in the same process under the
same test server. Usage: ``python benchmarks/test_kit.py [--runs 10]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

KIT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "kit"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    started = time.perf_counter()
    from pulpo.testing import run_flow

    run_flow("chain_flow", {"start": 1}, project=KIT)
    first = time.perf_counter() - started
    later, cpu, server_cpu, hand = [], [], [], []
    import psutil

    hand_chain = _hand_written_chain()
    hand_chain(1)  # its first call (the test server runs already)

    me = psutil.Process()
    for _ in range(runs):
        servers = me.children(recursive=True)
        server_before = sum(sum(p.cpu_times()[:2]) for p in servers)
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_flow("chain_flow", {"start": 1}, project=KIT)
        later.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        server_cpu.append(sum(sum(p.cpu_times()[:2]) for p in servers) - server_before)
        assert len(result.ran) == 10
        started = time.perf_counter()
        assert hand_chain(1) == result.output("chain.s10").value
        hand.append(time.perf_counter() - started)
    print(f"first run (import, test server start, run): {first:.1f} s")
    print(
        f"later runs of 10 operations: median {statistics.median(later):.2f} s, "
        f"min {min(later):.2f} s, max {max(later):.2f} s ({runs} runs)"
    )
    print(
        f"hand-written Prefect flow, same chain, same server: median "
        f"{statistics.median(hand):.2f} s, min {min(hand):.2f} s, max {max(hand):.2f} s"
    )
    print(
        f"pulpo / hand-written (medians): "
        f"{statistics.median(later) / statistics.median(hand):.2f}"
    )
    print(
        f"CPU per later run: this process {statistics.median(cpu):.2f} s, Prefect's "
        f"test server {statistics.median(server_cpu):.2f} s (medians)"
    )
    print(f"load average: {os.getloadavg()[0]:.1f}")


def _hand_written_chain():  # noqa: ANN202
    from prefect import flow, task

    @task
    def first(start: int) -> int:
        return start * 3

    @task
    def step(value: int) -> int:
        return value + 1

    @flow
    def chain(start: int) -> int:
        value = first(start)
        for _ in range(9):
            value = step(value)
        return value

    return chain


if __name__ == "__main__":
    main()
