"""Write generated files by switching a link to a fully prepared directory.

``run_cache/orchestration`` is a symbolic link to a versioned directory beside it
(``.orchestration-<n>``). A build assembles the next version completely; files whose
content did not change are hard-linked from the current one (same inode, same mtime:
not rewritten). Then one ``rename`` points the link at it, so a reader sees the old
tree or the new one, never neither. The version before, and any version younger than
``KEEP_SECONDS``, stay for readers that are still importing from them; older ones are
deleted. Builds of one project take turns
(:func:`build_lock`). A failure before the switch leaves the previous build as it was.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

IGNORED = {"__pycache__"}
LOCK_FILE = ".build.lock"
KEEP_SECONDS = 60.0


@dataclass(frozen=True)
class WriteReport:
    """Which files a swap wrote, kept or removed (paths relative to the directory)."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


@contextmanager
def build_lock(run_cache: Path) -> Iterator[None]:
    """Hold the build lock of ``run_cache``: a second build waits for the first."""
    run_cache.mkdir(parents=True, exist_ok=True)
    with open(run_cache / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def swap_in(target: Path, files: Mapping[str, str]) -> WriteReport:
    """Make ``target`` contain exactly ``files`` (relative path → text)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-{time.time_ns()}")
    written, unchanged = [], []
    try:
        for relative, text in sorted(files.items()):
            new, old = staging / relative, target / relative
            new.parent.mkdir(parents=True, exist_ok=True)
            data = text.encode("utf-8")
            if old.is_file() and old.read_bytes() == data:
                _link_or_copy(old, new)
                unchanged.append(relative)
            else:
                new.write_bytes(data)
                written.append(relative)
        removed = sorted(set(_files(target)) - set(files)) if target.is_dir() else []
        previous = _point(target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(target, keep={staging.name, previous}, younger_than=KEEP_SECONDS)
    return WriteReport(tuple(written), tuple(unchanged), tuple(removed))


def remove(target: Path) -> None:
    """Delete ``target``: the link and every version, or a plain directory."""
    if target.is_symlink():
        target.unlink()
        _prune(target, keep=set(), younger_than=0.0)
    elif target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def _point(target: Path, version: Path) -> str | None:
    """Point the link ``target`` at ``version``; return the version it pointed at."""
    previous = os.readlink(target) if target.is_symlink() else None
    link = target.with_name(f".{target.name}.link-{os.getpid()}")
    link.unlink(missing_ok=True)
    os.symlink(version.name, link)
    if target.is_dir() and not target.is_symlink():  # a plain directory: older pulpo
        retired = target.with_name(f".{target.name}-retired-{os.getpid()}")
        os.rename(target, retired)
        previous = retired.name
    os.replace(link, target)
    return previous


def _prune(target: Path, keep: set[str | None], younger_than: float) -> None:
    prefix = f".{target.name}-"
    now = time.time()
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix) or entry.name in keep:
            continue
        try:
            age = now - entry.lstat().st_mtime
        except FileNotFoundError:
            continue
        if age >= younger_than:
            shutil.rmtree(entry, ignore_errors=True)


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that."""
    data = text.encode("utf-8")
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return True


def _files(folder: Path) -> list[str]:
    return [
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and not IGNORED & set(path.relative_to(folder).parts)
    ]


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
