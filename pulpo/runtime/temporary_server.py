"""Task runners whose workers live in other processes, in Prefect's ephemeral mode.

Without a ``PREFECT_API_URL``, a worker process that runs its first task starts a
temporary API server of its own (seconds per worker, left running) and records its
task runs there, away from the flow run. The runners hand their workers the URL of
the flow run's temporary server instead (see :mod:`pulpo.runtime.worker_settings`):
Prefect gives workers its settings as of the submission.
"""

from __future__ import annotations

import os
import sys


def temporary_server_api() -> str | None:
    """The API URL of this process's temporary Prefect server, if it runs one."""
    server_module = sys.modules.get("prefect.server.api.server")
    if os.environ.get("PREFECT_API_URL") or server_module is None:
        return None
    server = server_module.SubprocessASGIServer()
    return str(server.api_url) if server.running else None
