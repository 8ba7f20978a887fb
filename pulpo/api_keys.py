"""API keys: from ``PULPO_API_KEYS``, or one random key that ``pulpo up`` stores."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pulpo.project import Project

KEYS_VARIABLE = "PULPO_API_KEYS"
KEY_FILE_VARIABLE = "PULPO_API_KEY_FILE"


def key_file(project: Project) -> Path:
    return project.data_dir / "secrets" / "api_key"


def configured_keys() -> tuple[str, ...]:
    """Keys given as ``PULPO_API_KEYS`` (comma-separated), if any."""
    raw = os.environ.get(KEYS_VARIABLE, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def ensure_api_key(project: Project) -> Path | None:
    """Create the project's key file on first use, unless keys come from the environment.

    The key is 32 random bytes, URL-safe, in a file only its owner can read.
    Returns the file, or None when ``PULPO_API_KEYS`` is set.
    """
    if configured_keys():
        return None
    path = key_file(project)
    if path.is_file() and path.read_text().strip():
        return path
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    os.replace(temporary, path)
    return path


def load_keys(path: Path | None = None) -> tuple[str, ...]:
    """The keys the API accepts: ``PULPO_API_KEYS``, else the lines of the key file."""
    keys = configured_keys()
    if keys:
        return keys
    file = path or (
        Path(os.environ[KEY_FILE_VARIABLE])
        if os.environ.get(KEY_FILE_VARIABLE)
        else None
    )
    if file is None or not file.is_file():
        return ()
    return tuple(line.strip() for line in file.read_text().splitlines() if line.strip())
