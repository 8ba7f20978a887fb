"""Where the UI server sends API calls when that is not the address a browser uses."""

from __future__ import annotations

import os

from pulpo.settings import Settings

UPSTREAM_VARIABLE = "PULPO_UI_UPSTREAM"
"""Set by the docker backend: the ui container reaches the API by its network name."""


def upstream_api_url(settings: Settings) -> str:
    """The API the UI server calls: ``PULPO_UI_UPSTREAM`` if set, else ``api_url``."""
    return os.environ.get(UPSTREAM_VARIABLE) or settings.api_url
