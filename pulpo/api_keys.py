"""API keys: from ``PULPO_API_KEYS``, or one random key that ``pulpo up`` stores."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pulpo.project import Project
from pulpo.secrets import ensure_secret
from pulpo.settings import variable

KEY_FILE_VARIABLE = variable("api_key_file")


def key_file(project: Project) -> Path:
    """Where ``pulpo up`` keeps the project's key: ``api_key_file``, else the data
    directory's ``secrets/api_key``."""
    configured = project.settings.api_key_file
    return Path(configured) if configured else project.data_dir / "secrets" / "api_key"


def ensure_api_key(project: Project) -> Path | None:
    """Create the project's key file on first use, unless keys come from the environment.

    The key is 32 random bytes, URL-safe, in a file only its owner can read.
    Returns the file, or None when ``PULPO_API_KEYS`` is set.
    """
    if project.settings.api_keys:
        return None
    path = key_file(project)
    ensure_secret(path)
    return path


def current_keys(project: Project) -> Callable[[], tuple[str, ...]]:
    """The keys the API accepts, read again whenever the key file changes (one
    ``stat`` per call), so a key ``pulpo api key`` prints is never refused."""
    if project.settings.api_keys:
        configured = project.settings.api_keys
        return lambda: configured
    path = key_file(project)
    seen: dict[str, Any] = {}

    def keys() -> tuple[str, ...]:
        try:
            stamp: object = path.stat().st_mtime_ns
        except OSError:
            stamp = None
        if "stamp" not in seen or seen["stamp"] != stamp:
            seen["stamp"], seen["keys"] = stamp, load_keys(project)
        return tuple(seen["keys"])

    return keys


def load_keys(project: Project) -> tuple[str, ...]:
    """The keys the API accepts: ``PULPO_API_KEYS``, else the lines of the key file."""
    if project.settings.api_keys:
        return project.settings.api_keys
    file = key_file(project)
    if not file.is_file():
        return ()
    return tuple(line.strip() for line in file.read_text().splitlines() if line.strip())
