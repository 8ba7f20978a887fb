"""The build fingerprint: which changes make ``run_cache/orchestration/`` stale."""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulpo import fingerprint
from pulpo.fingerprint import BuildRecord
from pulpo.project import Project
from tests.cli.test_errors import GOOD
from tests.conftest import MakeProject, run_pulpo


def touch_later(path: Path) -> None:
    """Move a file's mtime forward, as an edit a moment later would."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@pytest.fixture
def built(make_project: MakeProject) -> Project:
    """A project built by ``pulpo build``, as users do."""
    root = make_project(ops=GOOD, helpers="VALUE = 1\n")
    (root / "app" / "ops.py").write_text(
        "from app import helpers  # noqa: F401\n"
        + (root / "app" / "ops.py").read_text()
    )
    result = run_pulpo("build", cwd=root)
    assert result.returncode == 0, result.stderr
    return Project.find(root)


def test_a_build_records_a_fresh_fingerprint_of_what_it_imported(
    built: Project,
) -> None:
    record = fingerprint.load(built)
    assert record is not None
    assert fingerprint.is_fresh(built, record)
    assert sorted(record.fingerprint["files"]) == [
        "app/__init__.py",
        "app/helpers.py",
        "app/ops.py",
    ]
    assert sorted(record.generated) == sorted(
        p.name
        for p in built.orchestration_dir.iterdir()
        if p.name != fingerprint.FILE_NAME
    )


@pytest.mark.parametrize("name", ["app/ops.py", "app/helpers.py", "app/__init__.py"])
def test_touching_an_imported_file_makes_the_build_stale(
    built: Project, name: str
) -> None:
    touch_later(built.root / name)
    assert not fingerprint.is_fresh(built)


def test_an_edit_that_keeps_the_mtime_but_not_the_size_is_seen(built: Project) -> None:
    path = built.root / "app" / "helpers.py"
    stat = path.stat()
    path.write_text("VALUE = 12\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not fingerprint.is_fresh(built)


def test_deleting_an_imported_file_makes_the_build_stale(built: Project) -> None:
    (built.root / "app" / "helpers.py").unlink()
    assert not fingerprint.is_fresh(built)


def test_editing_pyproject_makes_the_build_stale(built: Project) -> None:
    config = built.root / "pyproject.toml"
    config.write_text(config.read_text().replace('version = "0"', 'version = "1"'))
    assert not fingerprint.is_fresh(built)


def test_a_new_file_counts_once_an_imported_module_imports_it(built: Project) -> None:
    (built.root / "app" / "extra.py").write_text("EXTRA = 2\n")
    assert fingerprint.is_fresh(built)  # nothing imports it: the build cannot differ
    ops = built.root / "app" / "ops.py"
    ops.write_text("from app import extra  # noqa: F401\n" + ops.read_text())
    assert not fingerprint.is_fresh(built)


def test_a_missing_or_changed_generated_file_makes_the_build_stale(
    built: Project,
) -> None:
    flow = built.orchestration_dir / "scraping_flow.py"
    flow.write_text(flow.read_text() + "# edited\n")
    assert not fingerprint.is_fresh(built)
    flow.unlink()
    assert not fingerprint.is_fresh(built)


def test_pulpo_clean_leaves_nothing_fresh(built: Project) -> None:
    assert run_pulpo("clean", cwd=built.root).returncode == 0
    assert fingerprint.load(built) is None
    assert not fingerprint.is_fresh(built)


def test_an_unreadable_or_older_record_is_stale(built: Project) -> None:
    path = built.orchestration_dir / fingerprint.FILE_NAME
    data = json.loads(path.read_text())
    data["fingerprint"]["format"] = fingerprint.FORMAT - 1
    path.write_text(json.dumps(data))
    assert not fingerprint.is_fresh(built)
    path.write_text("{not json")
    assert fingerprint.load(built) is None
    assert not fingerprint.is_fresh(built)


def test_build_environment_variables_are_part_of_the_fingerprint(
    built: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fingerprint, "BUILD_ENVIRONMENT", ("PULPO_TEST_SETTING",))
    monkeypatch.setenv("PULPO_TEST_SETTING", "a")
    record = fingerprint.load(built)
    assert record is not None
    files = [built.root / name for name in record.fingerprint["files"]]
    now = fingerprint.current_fingerprint(built, files)
    fingerprint.save(built, BuildRecord(now, record.generated))
    assert fingerprint.is_fresh(built)
    monkeypatch.setenv("PULPO_TEST_SETTING", "b")
    assert not fingerprint.is_fresh(built)


@pytest.fixture
def imported_package(tmp_path: Path) -> Iterator[Project]:
    """A project whose package is imported in this process, then forgotten."""
    root = tmp_path / "importer"
    package = root / "fp_probe_pkg"
    (root / "run_cache" / "orchestration").mkdir(parents=True)
    package.mkdir()
    (root / "pyproject.toml").write_text('[tool.pulpo]\nmodules = ["fp_probe_pkg"]\n')
    (package / "__init__.py").write_text("from fp_probe_pkg import inner  # noqa\n")
    (package / "inner.py").write_text("X = 1\n")
    (root / "run_cache" / "__init__.py").write_text("")
    (root / "run_cache" / "orchestration" / "__init__.py").write_text("")
    (root / "run_cache" / "orchestration" / "fp_probe_flows.py").write_text("")
    sys.path.insert(0, str(root))
    try:
        importlib.import_module("fp_probe_pkg")
        importlib.import_module("run_cache.orchestration.fp_probe_flows")
        yield Project.find(root)
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n.startswith(("fp_probe", "run_cache"))]:
            del sys.modules[name]


def test_imported_files_are_the_projects_sources_outside_run_cache(
    imported_package: Project,
) -> None:
    root = imported_package.root
    assert fingerprint.imported_files(imported_package) == [
        root / "fp_probe_pkg" / "__init__.py",
        root / "fp_probe_pkg" / "inner.py",
    ]
