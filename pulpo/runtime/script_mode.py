"""Imported first by generated modules so that ``python run_cache/orchestration/x.py``
works: it puts the project on ``sys.path`` and configures Prefect before it loads.

Importing it anywhere else does nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pulpo.errors import ProjectError
from pulpo.project import Project
from pulpo.runtime.environment import configure_prefect
from pulpo.settings import export


def _project_of_script() -> Path | None:
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script is None:
        return None
    folder = Path(
        os.path.abspath(script)
    ).parent  # not resolved: orchestration is a link
    if folder.name == "orchestration" and folder.parent.name == "run_cache":
        return folder.parent.parent
    return None


_project = _project_of_script()
if _project is not None:
    if str(_project) not in sys.path:
        sys.path.insert(0, str(_project))
    try:
        _settings_of = Project.find(_project)
    except ProjectError as error:
        raise SystemExit(f"error: {error}") from None
    export(_settings_of.settings)  # what `pulpo prefect run` hands to its runs
    configure_prefect(
        _project,
        _settings_of.settings.task_logs,
        _settings_of.data_dir,
        _settings_of.settings.log_format,
    )
