"""The pytest plugin as a user meets it: pytest run in a copy of a project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kit"

pytestmark = pytest.mark.e2e


def test_a_project_s_own_tests_use_pulpo_run_without_a_build_or_a_server(
    tmp_path: Path,
) -> None:
    project = tmp_path / "kit"
    shutil.copytree(
        FIXTURE,
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PULPO_"))
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:schemathesis",  # pulpo's dev dependency, not a user's
            "--durations=0",
        ],
        cwd=project,
        env={**environment, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=240,
    )

    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-3000:]
    )
    assert re.search(r"\b3 passed\b", completed.stdout), completed.stdout[-2000:]
    # The kit built the project itself, and Prefect's history stayed out of it.
    assert (project / "run_cache" / "orchestration" / "chain_flow.py").is_file()
    assert not (project / ".pulpo" / "prefect").exists()
