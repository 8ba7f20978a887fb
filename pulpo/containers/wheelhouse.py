"""Wheels for the image, collected on the host into ``run_cache/docker/``.

The image installs from them without reaching an index: pip finds them in its cache
here (a few seconds), and the build neither downloads nor compiles anything.
``wheels/`` holds the dependencies, ``pulpo/`` pulpo's own wheel: each is collected
again only when what it holds changes (the pins; pulpo's source files), and the image
installs them in two steps, so that a change to pulpo leaves the layer of the
dependencies cached.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pulpo.containers.requirements import PULPO, Requirements
from pulpo.errors import ServiceError

KEY_FILE = ".key"


def ensure_wheels(requirements: Requirements, folder: Path) -> bool:
    """Fill ``folder/wheels`` and ``folder/pulpo``; False when both were current.

    Raises:
        ServiceError: pip could not get a wheel, with pip's last lines.
    """
    dependencies = _ensure(
        folder / "wheels",
        requirements.dependencies_key(),
        [
            ["-r", "requirements.txt"],
            *([list(requirements.extra)] if requirements.extra else []),
        ],
        requirements.dependencies_text(),
    )
    source = requirements.pulpo_source
    pulpo = _ensure(
        folder / "pulpo",
        requirements.pulpo_key(),
        [[str(source)] if source else [f"{PULPO}=={requirements.pulpo_version}"]],
        None,
    )
    return dependencies or pulpo


def _ensure(
    folder: Path, key: str, commands: list[list[str]], requirements: str | None
) -> bool:
    key_file = folder / KEY_FILE
    if key_file.is_file() and key_file.read_text().strip() == key:
        return False
    staging = folder.with_name(f".{folder.name}-new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if requirements is not None:
        (staging / "requirements.txt").write_text(requirements)
    for what in commands:
        _pip_wheel(staging, what)
    (staging / "requirements.txt").unlink(missing_ok=True)
    (staging / KEY_FILE).write_text(key + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return True


def _pip_wheel(folder: Path, what: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        + ["--wheel-dir", ".", *what],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ServiceError(
            f"collecting wheels for the image failed (pip wheel {' '.join(what)}): "
            f"{tail}"
        )
