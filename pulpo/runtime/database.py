"""Beanie initialisation for generated flows (and later the API)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

from pulpo.errors import RunError
from pulpo.settings import Settings

_READY: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str] = (
    weakref.WeakKeyDictionary()
)


def database_url() -> tuple[str, str] | None:
    """``(MONGODB_URL, database name)`` this process was handed, if any."""
    settings = Settings.from_environment()
    if settings.mongodb_url is None:
        return None
    return settings.mongodb_url, settings.database


async def init_documents(documents: Sequence[type[Any]], required: bool = True) -> None:
    """Initialise Beanie for ``documents`` once per event loop.

    Args:
        documents: Every Beanie document datamodel of the project.
        required: The flow's operations exchange documents, so a database must exist;
            otherwise Beanie is initialised only when a database is configured.

    Raises:
        RunError: a database is required but none is configured.
    """
    loop = asyncio.get_running_loop()
    target = database_url()
    if target is None and not required:
        return
    if target is None:
        names = ", ".join(d.__name__ for d in documents)
        raise RunError(
            f"these datamodels are Beanie documents and need a database: {names}; run "
            f"`pulpo up` (or `pulpo db start`), or set MONGODB_URL"
        )
    key = "|".join(target)
    if _READY.get(loop) == key:
        return
    from beanie import init_beanie
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(
        target[0], serverSelectionTimeoutMS=5000
    )
    await init_beanie(database=client[target[1]], document_models=list(documents))
    _READY[loop] = key


def create_collections(documents: Sequence[type[Any]]) -> list[str]:
    """Create the collections and indexes of ``documents``; return collection names.

    Raises:
        RunError: no database is configured.
    """
    if not documents:
        return []
    asyncio.run(init_documents(documents))
    return sorted(d.get_collection_name() for d in documents)
