"""Before the project's Prefect server starts: does its PostgreSQL database answer?"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from pulpo.database_urls import redacted
from pulpo.errors import ServiceError

DEFAULT_POSTGRES_PORT = 5432


def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Fail with a clear error when the PostgreSQL server of ``url`` does not answer.

    Without this, Prefect's server exits during start-up with a log that ends in
    "Application startup failed", far from the cause.

    Raises:
        ServiceError: the host does not accept connections.
    """
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return
    host = parts.hostname or "127.0.0.1"
    port = parts.port or DEFAULT_POSTGRES_PORT
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as error:
        raise ServiceError(
            f"the Prefect database {redacted(url)} does not answer "
            f"({error.strerror or error}); start PostgreSQL there or fix "
            f"prefect_database_url (PULPO_PREFECT_DATABASE_URL)",
            service="prefect",
        ) from None
