"""Task runners whose workers live in other processes, in Prefect's ephemeral mode.

Without a ``PREFECT_API_URL``, a worker process that runs its first task starts a
temporary API server of its own (seconds per worker, left running) and records its
task runs there, away from the flow run. Submissions made inside
:func:`reporting_to` carry the URL of the flow run's temporary server instead: Prefect
hands workers its settings as of the submission.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext


def temporary_server_api() -> str | None:
    """The API URL of this process's temporary Prefect server, if it runs one."""
    server_module = sys.modules.get("prefect.server.api.server")
    if os.environ.get("PREFECT_API_URL") or server_module is None:
        return None
    server = server_module.SubprocessASGIServer()
    return str(server.api_url) if server.running else None


def reporting_to(api_url: str | None) -> AbstractContextManager[None]:
    """Submit within this to make workers report to ``api_url`` (None: unchanged)."""
    return nullcontext() if api_url is None else _api_url_setting(api_url)


@contextmanager
def _api_url_setting(api_url: str) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        yield
