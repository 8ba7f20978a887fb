"""Whether ``run_cache/orchestration/`` still matches the sources it was built from.

A build records a fingerprint beside the flows it generated (``.build-fingerprint``):
pulpo's version, templates and own source files, the project's ``pyproject.toml``, and
path, size and mtime of every project Python file that discovery imported. ``pulpo
prefect run`` recomputes it from the files on disk, importing nothing, and skips the
rebuild when it is unchanged.

Only files that were imported count: a new file in a package changes nothing until a
module imports it, and that module then has a new mtime. Data files user code reads
while being imported are not tracked; ``pulpo build`` always rebuilds.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pulpo.project import Project

FILE_NAME = ".build-fingerprint"
# Bumped when the record's layout or meaning changes: older records are then stale.
FORMAT = 1
# Environment variables a build reads; changing one makes the build stale. None today:
# analysis and code generation depend on files only.
BUILD_ENVIRONMENT: tuple[str, ...] = ()
PULPO_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuildRecord:
    """What a build recorded: its fingerprint, and facts a run needs from it.

    ``flows_using_documents`` lists the flows whose own operations use Beanie
    documents (``graph.json`` says which flows a flow runs, not this).
    """

    fingerprint: Mapping[str, Any]
    generated: Mapping[str, int]
    flows_using_documents: tuple[str, ...] = ()


def imported_files(project: Project) -> list[Path]:
    """The project's files behind the modules imported in this process.

    Leaves out ``run_cache/`` (generated code) and installed packages (a virtual
    environment inside the project).
    """
    modules = _project_modules(project, generated=False)
    return sorted({Path(str(module.__file__)) for module in modules})


def forget_imported(project: Project) -> None:
    """Drop the project's modules, its own and generated ones, from ``sys.modules``.

    The next import reads the files again: a second build or run in one process (the
    Python API) sees code edited since the first.
    """
    packages = {*project.first_party, "run_cache"}
    for name in [n for n in sys.modules if n.split(".")[0] in packages]:
        del sys.modules[name]  # also ones another project of the same names loaded
    for module in _project_modules(project, generated=True):
        sys.modules.pop(module.__name__, None)
    importlib.invalidate_caches()


def _project_modules(project: Project, generated: bool) -> list[ModuleType]:
    root = str(project.root) + os.sep
    installed = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    excluded = tuple(
        str(path) + os.sep
        for path in (installed if generated else {*installed, project.run_cache})
    )
    found = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(path, str):
            continue
        # `../venv/bin/pulpo` run inside the project gives an unnormalised path.
        path = os.path.abspath(path)
        if path.startswith(root) and not path.startswith(excluded):
            found.append(module)
    return found


def current_fingerprint(
    project: Project, imported_files: Iterable[Path]
) -> dict[str, Any]:
    """The fingerprint of the project's sources as they are on disk now.

    Args:
        project: The project.
        imported_files: Project files the build imported (absolute paths).
    """
    files: dict[str, list[int] | None] = {}
    for path in imported_files:
        try:
            stat = path.stat()
        except OSError:
            files[_relative(path, project.root)] = None
        else:
            files[_relative(path, project.root)] = [stat.st_size, stat.st_mtime_ns]
    from pulpo import __version__

    return {
        "format": FORMAT,
        "pulpo": __version__,
        "python": platform.python_version(),
        "pulpo_sources": _stat_digest(PULPO_PACKAGE, ".py"),
        "templates": _content_digest(_template_dir()),
        "pyproject": _file_digest(project.root / "pyproject.toml"),
        "environment": {name: os.environ.get(name) for name in BUILD_ENVIRONMENT},
        "files": dict(sorted(files.items())),
    }


def save(project: Project, record: BuildRecord) -> None:
    """Write ``record`` into ``run_cache/orchestration/`` (atomically)."""
    data = {
        "fingerprint": record.fingerprint,
        "generated": dict(sorted(record.generated.items())),
        "flows_using_documents": sorted(record.flows_using_documents),
    }
    path = project.orchestration_dir / FILE_NAME
    temporary = path.with_name(f"{FILE_NAME}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def load(project: Project) -> BuildRecord | None:
    """The record of the last build, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((project.orchestration_dir / FILE_NAME).read_bytes())
        return BuildRecord(
            fingerprint=dict(data["fingerprint"]),
            generated={str(k): int(v) for k, v in data["generated"].items()},
            flows_using_documents=tuple(data["flows_using_documents"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def is_fresh(project: Project, record: BuildRecord | None = None) -> bool:
    """True when the last build's sources and generated files are unchanged.

    Args:
        project: The project.
        record: The record to check (default: the one on disk).
    """
    record = record if record is not None else load(project)
    if record is None or record.fingerprint.get("format") != FORMAT:
        return False
    for name, size in record.generated.items():
        try:
            if (project.orchestration_dir / name).stat().st_size != size:
                return False
        except OSError:
            return False
    recorded_files = record.fingerprint.get("files")
    if not isinstance(recorded_files, dict):
        return False
    files = [project.root / name for name in recorded_files]
    return current_fingerprint(project, files) == record.fingerprint


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _template_dir() -> Path:
    # As pulpo.orchestration.templating.template_dir, without importing Jinja.
    for candidate in (PULPO_PACKAGE / "templates", PULPO_PACKAGE.parent / "templates"):
        if candidate.is_dir():
            return candidate
    return PULPO_PACKAGE / "templates"


def _walk(folder: Path, suffix: str = "") -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(folder):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        found += [Path(directory, n) for n in sorted(names) if n.endswith(suffix)]
    return found


def _stat_digest(folder: Path, suffix: str) -> str:
    """Paths, sizes and mtimes of a folder's files (pulpo may be an editable install)."""
    digest = hashlib.sha256()
    for path in _walk(folder, suffix):
        stat = path.stat()
        digest.update(f"{path.relative_to(folder)}\0{stat.st_size}\0".encode())
        digest.update(f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _content_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in _walk(folder):
        digest.update(f"{path.relative_to(folder)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
