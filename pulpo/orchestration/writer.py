"""Write generated files by swapping in a fully prepared directory.

The new tree is assembled beside the old one; files whose content did not change are
hard-linked from the old tree (same inode, same mtime: not rewritten), and only then is
the directory swapped in. A failure before the swap leaves the previous build as it was.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

IGNORED = {"__pycache__"}


@dataclass(frozen=True)
class WriteReport:
    """Which files a swap wrote, kept or removed (paths relative to the directory)."""

    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


def swap_in(target: Path, files: Mapping[str, str]) -> WriteReport:
    """Make ``target`` contain exactly ``files`` (relative path → text)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.new-{os.getpid()}")
    retired = target.with_name(f".{target.name}.old-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
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
        if target.exists():
            os.rename(target, retired)
        try:
            os.rename(staging, target)
        except OSError:
            if retired.exists():
                os.rename(retired, target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)
    return WriteReport(tuple(written), tuple(unchanged), tuple(removed))


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
