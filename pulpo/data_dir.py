"""The project's data directory (``.pulpo/``): persistent state, kept apart from the
generated, disposable ``run_cache/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from pulpo.project import Project

README = """\
# .pulpo: this project's data

Written by pulpo's services and runs; back it up, do not commit it. `pulpo clean`
never touches it; `pulpo clean --data` deletes it after listing it and asking.

- `db/`: the database of pulpo's own `db` service (nx-27017, SQLite files).
- `prefect/`: Prefect's home: its database of flow runs, deployments and logs.
- `results/`: flow results Prefect persisted, and cached operation results.
- `secrets/api_key`: the API key `pulpo up` created (`pulpo api key` prints it).

Back up with the services stopped (`pulpo down`), e.g. `tar czf backup.tgz .pulpo`.
"""

# Where pulpo kept each of them inside run_cache/ before.
LEGACY = {
    "db": "data/db",
    "prefect": "prefect",
    "results": "results",
    "secrets": "secrets",
}


def ensure_data_dir(project: Project) -> list[str]:
    """Create the data directory, moving data older pulpos kept in ``run_cache/``.

    Returns one line per move, for the user.
    """
    data = project.data_dir
    private_dir(data)
    _write_once(data / "README.md", README)
    _write_once(data / ".gitignore", "*\n")
    moved = []
    for name, legacy in LEGACY.items():
        old, new = project.run_cache / legacy, data / name
        if old.is_dir() and not new.exists():
            shutil.move(old, new)
            moved.append(
                f"moved {old.relative_to(project.root)} to "
                f"{new.relative_to(project.root)} (data is kept out of run_cache/)"
            )
    return moved


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter: databases, results, logs and
    secrets are nobody else's business on a shared machine."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:  # made by an older pulpo, or by hand
        path.chmod(0o700)
    return path


def _write_once(path: Path, text: str) -> None:
    if not path.exists():
        path.write_text(text, encoding="utf-8")
