"""The build context of a project image: the project directory, filtered by
``run_cache/docker/.dockerignore``, as a reproducible tar, and the hash of it.

The generated code sits behind links (``run_cache/orchestration`` points at the
current ``.orchestration-<n>``); the context holds the current files as version
``.orchestration-0`` and the link to it, so the image, and its hash, do not depend on
which version number a build got, and a build inside a container (``pulpo prefect
deploy`` of Compose) can switch the link as on the host (a directory of an image's
layer cannot be renamed in a container).
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
    links: tuple[tuple[str, str], ...] = ()  # path in the context → link target

    def digest(self) -> str:
        """sha256 over every path, executable bit and content, and every link."""
        digest = hashlib.sha256()
        for name, target in self.links:
            digest.update(f"{name}\0->{target}\0".encode())
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
            for name, target in self.links:
                link = _entry(name, tarfile.SYMTYPE, 0o777)
                link.linkname = target
                archive.addfile(link)
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
    links: dict[str, str] = {}
    for relative in PatternMatcher(patterns).walk(str(root)):
        path = root / relative
        if path.is_symlink() and path.is_dir():
            target = path.resolve()
            if target.is_relative_to(root.resolve()):  # generated code's link
                version = f".{path.name}-0"
                links[relative] = version
                folder = str(Path(relative).with_name(version))
                for inner in sorted(target.rglob("*")):
                    if inner.is_file() and "__pycache__" not in inner.parts:
                        files[f"{folder}/{inner.relative_to(target)}"] = inner
        elif path.is_file():
            files[relative] = path
    return BuildContext(tuple(sorted(files.items())), tuple(sorted(links.items())))


def _entry(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type = kind
    entry.mode = mode
    entry.mtime = EPOCH
    return entry
