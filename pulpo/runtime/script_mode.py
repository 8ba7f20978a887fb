"""Imported first by generated modules so that ``python run_cache/orchestration/x.py``
works: it puts the project on ``sys.path`` and configures Prefect before it loads.

Importing it anywhere else does nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulpo.runtime.environment import configure_prefect


def _project_of_script() -> Path | None:
    script = getattr(sys.modules.get("__main__"), "__file__", None)
    if script is None:
        return None
    folder = Path(script).resolve().parent
    if folder.name == "orchestration" and folder.parent.name == "run_cache":
        return folder.parent.parent
    return None


_project = _project_of_script()
if _project is not None:
    if str(_project) not in sys.path:
        sys.path.insert(0, str(_project))
    configure_prefect(_project)
