"""Shared fixtures: throwaway pulpo projects and a way to run the CLI as users do."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

PULPO = str(Path(sys.executable).with_name("pulpo"))
MYPY = str(Path(sys.executable).with_name("mypy"))
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_pulpo(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 240,
    wrapper: Sequence[str] = (),
) -> Result:
    """Run the installed ``pulpo`` console script in ``cwd`` (behind ``wrapper``)."""
    completed = subprocess.run(
        [*wrapper, PULPO, *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def mypy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run mypy in ``cwd`` with one cache per set of options for the whole test run
    (every xdist worker): Prefect and pydantic are analysed once, not by each test
    (about 10 s of CPU each time). mypy replaces cache files atomically and trusts a
    cached module only while its source's hash is the same."""
    options = hashlib.sha256("\0".join(args[:-1]).encode()).hexdigest()[:12]
    cache = REPO / ".mypy_cache" / f"tests-{options}"
    return subprocess.run(
        [MYPY, "--no-sqlite-cache", "--cache-dir", str(cache), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def interruptible() -> None:
    """``preexec_fn`` for a CLI that a test Ctrl-Cs: a terminal's Ctrl-C works even
    when the test runner was started in the background (``nohup``, ``&``), which
    makes children inherit an ignored SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


MakeProject = Callable[..., Path]


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """Write a project: ``make_project(ops="...python...")`` → its directory.

    Each keyword becomes ``<name>.py`` inside package ``app``; ``modules`` lists what
    ``[tool.pulpo]`` imports (default: every module written).
    """

    def make(
        modules: list[str] | None = None, pyproject: str | None = None, **files: str
    ) -> Path:
        root = tmp_path / "project"
        package = root / "app"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        for name, source in files.items():
            (package / f"{name}.py").write_text(textwrap.dedent(source))
        listed = modules if modules is not None else [f"app.{name}" for name in files]
        config = pyproject or (
            '[project]\nname = "app"\nversion = "0"\n\n[tool.pulpo]\n'
            f"modules = {listed!r}\n".replace("'", '"')
        )
        (root / "pyproject.toml").write_text(config)
        return root

    return make


# Fixture projects carry their own tests (run as a subprocess, as their users would).
collect_ignore_glob = ["fixtures/*"]
