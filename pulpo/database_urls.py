"""URLs of the Prefect server's database: the driver Prefect needs, and redaction.

Prefect speaks to PostgreSQL through asyncpg and to SQLite through aiosqlite only, so
the URLs people copy from elsewhere (``postgresql://…``, ``postgres://…``) are given
that driver.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def with_driver(url: str) -> str:
    """``url`` with the driver Prefect needs.

    Raises:
        ValueError: a scheme Prefect cannot use.
    """
    scheme, _, rest = url.partition("://")
    driver = _DRIVERS.get(scheme.lower())
    if not rest or driver is None:
        raise ValueError(
            f"not a PostgreSQL or SQLite URL (got {redacted(url)!r}); write it as "
            f"postgresql+asyncpg://user:password@host:5432/database"
        )
    return f"{driver}://{rest}"


def redacted(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))
