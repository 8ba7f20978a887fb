"""The generated API type-checks: mypy --strict passes on ``run_cache/api``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, MakeProject, mypy, run_pulpo

EXAMPLE = REPO / "examples" / "jobhunter"
RUFF = str(Path(sys.executable).with_name("ruff"))


def build(project: Path) -> Path:
    result = run_pulpo("build", cwd=project)
    assert result.returncode == 0, result.stderr
    return project / "run_cache" / "api"


def mypy_strict(project: Path) -> subprocess.CompletedProcess[str]:
    """mypy on the ``run_cache.api`` package only, as imported from ``project``.

    The flows it imports are followed silently: their errors are not the API's.
    """
    return mypy(
        "--strict",
        "--follow-imports=silent",
        "--no-error-summary",
        "-p",
        "run_cache.api",
        cwd=project,
    )


def test_the_example_api_passes_mypy_strict(tmp_path: Path) -> None:
    project = tmp_path / EXAMPLE.name
    shutil.copytree(
        EXAMPLE,
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    build(project)
    checked = mypy_strict(project)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_names_the_project_shares_with_the_api_are_imported_under_other_names(
    make_project: MakeProject,
) -> None:
    root = make_project(
        ops="""
        from beanie import Document
        from pulpo import datamodel, operation

        @datamodel
        class Query(Document):
            text: str

        @datamodel(name="Item")
        class ItemCreate(Document):
            label: str

        @datamodel
        class status(Document):
            code: int = 0

        @operation(name="a", outputs=Query)
        def a() -> Query:
            return Query(text="a")

        @operation(name="run_a")
        def run_a(n: int = 1) -> int:
            return n
        """
    )
    api = build(root)
    assert (
        "from fastapi import Query as Query_2"
        in (api / "documents" / "queries.py").read_text()
    )
    assert "import run_a_flow as run_a_flow_2" in (api / "flows.py").read_text()
    common = ["--isolated", "--no-respect-gitignore"]
    linted = subprocess.run(
        [RUFF, "check", *common, "--select", "E,F,W,I,UP,B", str(api)],
        capture_output=True,
        text=True,
        cwd=root,  # where ruff finds the first-party packages
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    checked = mypy_strict(root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
