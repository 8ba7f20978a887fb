"""The Prefect settings that task submissions hand to worker processes of this machine.

Prefect serializes the settings to a plain dict with every task it sends to another
process, so that workers on any machine can use them, and each worker builds them
again from it, reading every environment and dotenv source: about 0.05 s of CPU per
task in the worker, and nearly as much in the flow's process to serialize them. The
workers of the ``processes`` pool and of the local Dask cluster are forks of this
machine's Python and Prefect, so they are handed the settings objects themselves,
which unpickle in under a millisecond. Workers of a cluster elsewhere
(``dask_address``) still get Prefect's plain dict.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Imported only by the task runners, when a flow module loads.
from prefect.context import SettingsContext  # noqa: TID253
from prefect.settings import Settings  # noqa: TID253


class _SettingsObjects(SettingsContext):
    """A settings context that serializes to its objects, not to plain data."""

    def serialize(self, include_secrets: bool = True) -> dict[str, Any]:
        return {"profile": self.profile, "settings": self.settings}


_LOCK = threading.Lock()
# Kept for the next flow run of the process: the flow's last settings context and
# API URL, with what the workers got for them; the last settings' variables.
_last: tuple[SettingsContext, str | None, _SettingsObjects] | None = None
_last_variables: tuple[Settings, dict[str, str]] | None = None


class LocalWorkerSettings:
    """Settings for the submissions of one flow run's task runner.

    ``api_url`` is the API the workers report to, when it differs from the flow's
    settings: the flow run's temporary server in Prefect's ephemeral mode, where a
    worker would otherwise start a temporary server of its own.
    """

    def __init__(self, api_url: str | None = None) -> None:
        self._api_url = api_url

    @contextmanager
    def submitting(self) -> Iterator[Settings | None]:
        """Submit tasks within this; yields the settings the workers get (None:
        Prefect's own way, when there is no settings context).

        They are built again only when the flow's settings change (a
        ``temporary_settings`` block), not for every task or flow run.
        """
        global _last
        current = SettingsContext.get()
        if current is None:
            yield None
            return
        with _LOCK:
            if _last is None or _last[0] is not current or _last[1] != self._api_url:
                _last = (current, self._api_url, _for_workers(current, self._api_url))
            given = _last[2]
        token = SettingsContext.__var__.set(given)
        try:
            yield given.settings
        finally:
            SettingsContext.__var__.reset(token)


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment Prefect's process pool gives a worker for a task."""
    global _last_variables
    with _LOCK:
        if _last_variables is None or _last_variables[0] is not settings:
            variables = settings.to_environment_variables(exclude_unset=True)
            _last_variables = (settings, variables)
        return _last_variables[1] | os.environ


def _for_workers(current: SettingsContext, api_url: str | None) -> _SettingsObjects:
    settings = current.settings
    if api_url is not None:
        from prefect.settings import PREFECT_API_URL  # noqa: TID253

        settings = settings.copy_with_update(updates={PREFECT_API_URL: api_url})
    return _SettingsObjects(profile=current.profile, settings=settings)
