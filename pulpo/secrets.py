"""Secrets pulpo generates for a project, one per file in ``.pulpo/secrets/``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pulpo.project import Project


def secret_file(project: Project, name: str) -> Path:
    return project.data_dir / "secrets" / name


def read_secret(path: Path) -> str | None:
    """The secret in ``path``, or None when there is none yet."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text or None


def ensure_secret(path: Path) -> str:
    """The secret in ``path``, created on first use: 32 random bytes, URL-safe, in a
    file only its owner can read (its folder too)."""
    existing = read_secret(path)
    if existing is not None:
        return existing
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return value


def prefect_auth_string(project: Project) -> str:
    """``user:password`` for the project's Prefect server (Prefect's basic auth), shared
    by the server, the worker, the API and pulpo's own runs; created on first use."""
    return f"pulpo:{ensure_secret(secret_file(project, 'prefect_auth'))}"
