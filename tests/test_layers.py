"""Build time and run time apart: running services never load the generator.

The API server, the services and generated flows import ``pulpo.api``,
``pulpo.services``, ``pulpo.runtime`` and ``pulpo.deployments``; those must not reach
the compiler, the analysis or the templates (nor their libraries), and services sit
below the API. Checked on the source (every import, lazy ones too) and in a fresh
interpreter.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PULPO = Path(__file__).resolve().parents[1] / "pulpo"
BUILD_TIME = (
    "pulpo.orchestration",
    "pulpo.analysis",
    "pulpo.discovery",
    "pulpo.fingerprint",
    "pulpo.api.codegen",
    "pulpo.containers",
    "pulpo.interface",
    "pulpo.cli",
    "networkx",
    "jinja2",
)
RUN_TIME = [
    "api",
    "services",
    "runtime",
    "ui",
    "observe",
    "deployments.py",
    "api_keys.py",
]
# What each run-time layer may not import, besides the build-time modules. The UI
# server talks to the API over HTTP only.
BELOW = {
    "services": ("pulpo.api",),
    "runtime": ("pulpo.api", "pulpo.services"),
    "ui": ("pulpo.api", "pulpo.services", "pulpo.runtime"),
    "observe": ("pulpo.api", "pulpo.services", "pulpo.runtime"),
}


def run_time_files() -> list[Path]:
    files = []
    for entry in RUN_TIME:
        path = PULPO / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [f for f in files if f.name != "codegen.py"]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, except for type checking only."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


@pytest.mark.parametrize(
    "path", run_time_files(), ids=lambda p: str(p.relative_to(PULPO))
)
def test_run_time_modules_import_no_build_time_module(path: Path) -> None:
    layer = path.relative_to(PULPO).parts[0]
    forbidden = BUILD_TIME + BELOW.get(layer, ())
    wrong = sorted(name for name in imported(path) if within(name, forbidden))
    assert not wrong, f"{path.relative_to(PULPO)} imports {wrong}"


def test_the_api_server_and_services_load_without_the_generator() -> None:
    code = (
        "import sys\n"
        "import pulpo.api.app, pulpo.api.jobs, pulpo.deployments, pulpo.runtime\n"
        "import pulpo.services.manager, pulpo.services.supervise, pulpo.ui.server\n"
        f"print(' '.join(m for m in sys.modules if m.startswith({BUILD_TIME!r})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    # pulpo/__init__ exports CLI; pulpo.interface itself imports lazily.
    assert set(result.stdout.split()) - {"pulpo.interface"} == set()
