"""Generated code: matches the golden files, is deterministic and passes ruff."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, mypy, run_pulpo
from tests.golden.regenerate import GENERATED, GOLDEN, NOT_GENERATED

EXAMPLE = REPO / "examples" / "jobhunter"
WIDE = Path(__file__).resolve().parents[1] / "fixtures" / "wide"
# Hooks and flow timeouts, on threads and on the processes runner.
POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"
RUFF = str(Path(sys.executable).with_name("ruff"))


def built_copy(source: Path, destination: Path) -> Path:
    project = destination / source.name
    shutil.copytree(
        source,
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    result = run_pulpo("build", cwd=project)
    assert result.returncode == 0, result.stderr
    return project / "run_cache" / "orchestration"


def files_under(folder: Path) -> list[str]:
    """Generated files (not the build's fingerprint: it holds mtimes)."""
    found = []
    # run_cache/orchestration is a link to the current build's directory.
    for directory, subdirectories, names in os.walk(folder, followlinks=True):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        found += [Path(directory, name).relative_to(folder) for name in names]
    return sorted(
        str(p)
        for p in found
        if "__pycache__" not in p.parts and p.name not in NOT_GENERATED
    )


@pytest.mark.parametrize("folder", GENERATED)
def test_example_output_matches_the_golden_files(tmp_path: Path, folder: str) -> None:
    generated = built_copy(EXAMPLE, tmp_path).parent / folder
    golden = GOLDEN / folder
    names = files_under(generated)
    assert names == files_under(golden)
    _, mismatch, errors = filecmp.cmpfiles(generated, golden, names, shallow=False)
    assert mismatch == [] and errors == [], (
        f"generated files differ from tests/golden/jobhunter/{folder}: {mismatch}; if "
        f"the change is intended, run: python tests/golden/regenerate.py"
    )


def test_builds_are_byte_identical_across_directories(tmp_path: Path) -> None:
    first = built_copy(WIDE, tmp_path / "one").parent
    second = built_copy(WIDE, tmp_path / "two").parent
    files = [f for f in files_under(first) if f.startswith(("orchestration", "api"))]
    assert files == [
        f for f in files_under(second) if f.startswith(("orchestration", "api"))
    ]
    assert "api/app.py" in files
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert str(tmp_path) not in "".join((first / n).read_text() for n in files)


@pytest.mark.parametrize(
    "project", [EXAMPLE, WIDE, POLICIES], ids=["jobhunter", "wide", "policies"]
)
def test_generated_modules_are_formatted_and_lint_clean(
    project: Path, tmp_path: Path
) -> None:
    generated = built_copy(project, tmp_path).parent  # orchestration/ and api/
    common = ["--isolated", "--no-respect-gitignore"]
    formatted = subprocess.run(
        [RUFF, "format", *common, "--check", "--diff", str(generated)],
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    # Like the project's own lint: ruff format owns line length, and names or strings
    # longer than a line (the wide fixture has some) cannot be wrapped.
    linted = subprocess.run(
        [
            RUFF,
            "check",
            *common,
            "--select",
            "E,F,W,I,UP,B",
            "--ignore",
            "E501",
            str(generated),
        ],
        capture_output=True,
        text=True,
        cwd=generated.parent,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_a_rebuild_rewrites_only_what_changed(tmp_path: Path) -> None:
    generated = built_copy(EXAMPLE, tmp_path)
    project = generated.parents[1]
    inode = (generated / "scraping_flow.py").stat().st_ino
    operations = project / "jobhunter" / "operations.py"
    operations.write_text(
        operations.read_text().replace(
            "def summarize(parsed: list[PostingSkills], top: int = 3)",
            "def summarize(parsed: list[PostingSkills], top: int = 5)",
        )
    )
    result = run_pulpo("build", cwd=project)
    assert (
        "2 written, 5 unchanged, 0 removed" in result.stdout
    )  # parsing_flow.py, graph.json
    assert (generated / "scraping_flow.py").stat().st_ino == inode
    assert "top: int = 5" in (generated / "parsing_flow.py").read_text()


@pytest.mark.parametrize(
    "project", [EXAMPLE, WIDE, POLICIES], ids=["jobhunter", "wide", "policies"]
)
def test_generated_flows_and_api_pass_mypy(project: Path, tmp_path: Path) -> None:
    run_cache = built_copy(project, tmp_path).parent
    checked = mypy("--ignore-missing-imports", "run_cache", cwd=run_cache.parent)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_task_docstring_is_the_whole_first_paragraph_of_the_function_s() -> None:
    from pulpo.orchestration.codegen import _docstring

    text = """Ask the LLM for a description; retried only when the model
    reports a transient error.

    Details that stay in the user's function."""

    assert _docstring(text) == (
        '"""Ask the LLM for a description; retried only when the model reports a '
        'transient error."""'
    )
