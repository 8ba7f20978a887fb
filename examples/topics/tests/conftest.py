"""Fixtures of the topics example's tests.

``pulpo_run`` comes with pulpo (its pytest plugin). ``database`` starts the embedded
database for the tests that store topics, unless MONGODB_URL points at one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from topics.models import EmbeddedTopic, PersistedTopic

PROJECT = Path(__file__).resolve().parents[1]
PULPO = shutil.which("pulpo") or str(Path(sys.executable).with_name("pulpo"))


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB URL: MONGODB_URL if set, else `pulpo db start` on a free port."""
    given = os.environ.get("MONGODB_URL")
    if given:
        yield given
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PULPO_DB_PORT": str(port),
        "PULPO_DATA_DIR": str(tmp_path_factory.mktemp("topics-data")),
    }
    subprocess.run([PULPO, "db", "start"], cwd=PROJECT, env=env, check=True)
    try:
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        subprocess.run([PULPO, "db", "stop"], cwd=PROJECT, env=env, check=False)


@pytest.fixture
def stored_in(database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs of this test write to a database of their own; returns its name."""
    name = f"topics_test_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MONGODB_URL", database)
    monkeypatch.setenv("PULPO_DATABASE", name)
    return name


class MemoryStore:
    """Stands in for ``topics.persist`` where a test is not about the database."""

    def __init__(self) -> None:
        self.records: dict[str, EmbeddedTopic] = {}

    async def persist(self, embedded: EmbeddedTopic) -> PersistedTopic:
        key = embedded.topic.key
        created = key not in self.records
        self.records[key] = embedded
        return PersistedTopic(
            topic_id=f"memory-{key}",
            key=key,
            created=created,
            topics_of_tenant=len(self.records),
        )


@pytest.fixture
def memory() -> MemoryStore:
    return MemoryStore()
