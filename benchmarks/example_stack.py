"""A throwaway copy of examples/jobhunter with free ports, for the service benchmarks."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PULPO = str(Path(sys.executable).with_name("pulpo"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def example_copy(**settings: str) -> Iterator[tuple[Path, dict[str, str]]]:
    """Yield the copy's directory and the environment that gives it its own ports."""
    with tempfile.TemporaryDirectory(prefix="pulpo-bench-") as scratch:
        project = Path(scratch) / "jobhunter"
        shutil.copytree(
            REPO / "examples" / "jobhunter",
            project,
            ignore=shutil.ignore_patterns("run_cache"),
        )
        env = {
            **os.environ,
            "PULPO_DB_PORT": str(free_port()),
            "PULPO_PREFECT_PORT": str(free_port()),
            "PULPO_API_PORT": str(free_port()),
            "PREFECT_API_URL": "",
            "MONGODB_URL": "",
            **settings,
        }
        yield project, env


def milliseconds_at(ordered: list[float], fraction: float) -> float:
    """The latency (seconds in, ms out) below which ``fraction`` of ``ordered`` fall."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000
