"""A real dockerd for the container tests, and copies of the example that use it.

``ensure_docker.sh`` makes Docker usable (as root it installs and starts dockerd and
builds the base image ``pulpo-test-base:bookworm``, since nothing can be pulled). As
root a Docker that cannot be made usable fails the tests; elsewhere they are skipped
with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Result
from tests.e2e.conftest import Stack

BASE_IMAGE = os.environ.get("PULPO_TEST_BASE_IMAGE", "pulpo-test-base:bookworm")
ENSURE = Path(__file__).with_name("ensure_docker.sh")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of a daemon that answers and has the base image."""
    import docker

    try:
        done = subprocess.run(
            ["sh", str(ENSURE)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as timeout:
        # Shorter than the tests' own timeout, so that what the script said is shown.
        said = (timeout.stderr or b"").decode(errors="replace")
        pytest.fail(f"{ENSURE.name} did not finish in 600 s: {said.strip()[-500:]}")
    if done.returncode != 0:
        reason = f"Docker is not usable: {done.stderr.strip()[-500:]}"
        if os.geteuid() == 0:
            pytest.fail(reason)
        pytest.skip(reason)
    client = docker.from_env(timeout=300)
    yield client
    client.close()


class DockerStack(Stack):
    """A copy of the example under a name of its own, with ``backend = "docker"``."""

    @classmethod
    def copy_named(cls, folder: Path, **settings: str) -> DockerStack:
        root = folder / f"ctr_{uuid.uuid4().hex[:8]}"
        shutil.copytree(
            REPO / "examples" / "jobhunter",
            root,
            ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
        )
        stack = cls(root)
        stack.env.update(
            {
                "PULPO_BACKEND": "docker",
                "PULPO_BASE_IMAGE": BASE_IMAGE,
                "PULPO_WORKER_TYPE": "process",
                **settings,
            }
        )
        return stack

    @property
    def key(self) -> str:
        from pulpo.services.processes import project_key

        return project_key(self.root)

    def run_storage_flow(self) -> Result:
        """A run of the example's storage_flow through the worker, waited for."""
        return self.pulpo(
            "prefect",
            "run",
            "storage_flow",
            "--deployment",
            "-p",
            "keywords=python",
            timeout=600,
        )

    def saved_postings(self) -> int:
        """Documents in the example's collection, read through the published port."""
        from pymongo import MongoClient

        client: MongoClient = MongoClient(
            f"mongodb://127.0.0.1:{self.db_port}", serverSelectionTimeoutMS=5000
        )
        try:
            return int(client["jobhunter_test"]["job_postings"].count_documents({}))
        finally:
            client.close()

    def containers(self, client: Any) -> list[Any]:
        return list(
            client.containers.list(
                all=True, filters={"label": f"io.pulpo.project={self.key}"}
            )
        )

    def remove_everything(self, client: Any) -> None:
        """What the test made in Docker: containers, network, volumes, images (all of
        them carry this copy's label, and nothing else does)."""
        label = {"label": f"io.pulpo.project={self.key}"}
        for container in self.containers(client):
            container.remove(force=True)
        for network in client.networks.list(filters=label):
            network.remove()
        for volume in client.volumes.list(filters=label):
            volume.remove(force=True)
        images = client.images.list(filters=label)
        # Newest first: an image built from another (a stand-in) goes before it.
        for image in sorted(images, key=lambda i: i.attrs["Created"], reverse=True):
            client.images.remove(image.id, force=True)


@contextmanager
def flow_run_containers_seen(client: Any, key: str) -> Iterator[list[dict[str, str]]]:
    """The flow-run containers of the project ``key`` seen while the block runs (each
    as its labels and image): they are removed when their run ends, so they are
    looked for every 0.2 s."""
    seen: list[dict[str, str]] = []
    stop = threading.Event()
    selector = [f"io.pulpo.project={key}", "io.pulpo.flow-run=true"]

    def watch() -> None:
        while not stop.is_set():
            for container in client.containers.list(filters={"label": selector}):
                seen.append(
                    {**container.labels, "image": container.attrs["Config"]["Image"]}
                )
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        stop.set()
        watcher.join()
