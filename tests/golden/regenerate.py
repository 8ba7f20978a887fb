"""Rebuild the golden copy of the example's generated code: python tests/golden/regenerate.py

tests/golden/jobhunter/ holds the example's run_cache/orchestration/ and run_cache/api/.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "jobhunter"
GOLDEN = HERE / "jobhunter"
GENERATED = ("orchestration", "api")
# Written by the build beside the generated code, but not generated code: it records
# sizes and mtimes of this copy's sources (pulpo.fingerprint).
NOT_GENERATED = (".build-fingerprint",)


def generate(destination: Path) -> None:
    """Build a clean copy of the example and copy its generated folders out."""
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "jobhunter"
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"))
        pulpo = Path(sys.executable).with_name("pulpo")
        subprocess.run([str(pulpo), "build"], cwd=project, check=True, capture_output=True)
        shutil.rmtree(destination, ignore_errors=True)
        for folder in GENERATED:
            shutil.copytree(
                project / "run_cache" / folder,
                destination / folder,
                ignore=shutil.ignore_patterns("__pycache__", *NOT_GENERATED),
            )


if __name__ == "__main__":
    generate(GOLDEN)
    print(f"golden files written to {GOLDEN}")
