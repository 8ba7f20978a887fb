"""The build context of a project image: the project directory, filtered by
``run_cache/docker/.dockerignore``, as a reproducible tar, and the hash of it.

The generated code sits behind links (``run_cache/orchestration`` points at the
current ``.orchestration-<n>``); the context holds the current files at the link's
path, so the image, and its hash, do not depend on which version number a build got.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

# Fixed file times, owner and modes: the same files give the same tar and hash.
EPOCH = 1_600_000_000


@dataclass(frozen=True)
class BuildContext:
    """The files of the context (path in the context → file on disk), sorted."""

    files: tuple[tuple[str, Path], ...]

    def digest(self) -> str:
        """sha256 over every path, executable bit and content."""
        digest = hashlib.sha256()
        for name, path in self.files:
            executable = os.access(path, os.X_OK)
            digest.update(f"{name}\0{int(executable)}\0".encode())
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
            digest.update(b"\0")
        return digest.hexdigest()

    def tar(self) -> io.BytesIO:
        """The context as an uncompressed tar (the daemon reads it from memory)."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            directories: set[str] = set()
            for name, path in self.files:
                for parent in reversed(Path(name).parents[:-1]):
                    if str(parent) not in directories:
                        directories.add(str(parent))
                        archive.addfile(_entry(str(parent), tarfile.DIRTYPE, 0o755))
                executable = os.access(path, os.X_OK)
                entry = _entry(name, tarfile.REGTYPE, 0o755 if executable else 0o644)
                entry.size = path.stat().st_size
                with path.open("rb") as handle:
                    archive.addfile(entry, handle)
        buffer.seek(0)
        return buffer


def collect(root: Path, ignore_file: Path) -> BuildContext:
    """The files of ``root`` that ``ignore_file`` (.dockerignore syntax) lets in."""
    from docker.utils.build import PatternMatcher

    patterns = [
        line.strip()
        for line in ignore_file.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    files: dict[str, Path] = {}
    for relative in PatternMatcher(patterns).walk(str(root)):
        path = root / relative
        if path.is_symlink() and path.is_dir():
            target = path.resolve()
            if target.is_relative_to(root.resolve()):  # generated code's link
                for inner in sorted(target.rglob("*")):
                    if inner.is_file() and "__pycache__" not in inner.parts:
                        files[f"{relative}/{inner.relative_to(target)}"] = inner
        elif path.is_file():
            files[relative] = path
    return BuildContext(tuple(sorted(files.items())))


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.mtime = EPOCH
    return entry
