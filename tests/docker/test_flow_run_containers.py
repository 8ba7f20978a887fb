"""``worker_type = "docker"``: each deployment run is a container of the project's
image, started by the worker through a Prefect Docker work pool."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.docker.conftest import DockerStack

# Image builds and the wait for Docker itself (tests/docker/conftest.py) take minutes
# on a fresh machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerStack]:
    made = DockerStack.copy_named(
        tmp_path_factory.mktemp("flow-runs"), PULPO_WORKER_TYPE="docker"
    )
    try:
        yield made
    finally:
        made.pulpo("down", timeout=300)
        made.remove_everything(docker_client)


def test_a_deployment_run_is_a_container_of_the_image_and_writes_the_database(
    stack: DockerStack, docker_client: Any
) -> None:
    up = stack.pulpo("up", timeout=900)
    assert up.returncode == 0, up.stderr[-3000:]
    image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()

    seen: list[dict[str, str]] = []
    stop = threading.Event()

    def watch() -> None:  # flow-run containers are removed when their run ends
        while not stop.is_set():
            for container in docker_client.containers.list(
                filters={"label": "io.pulpo.flow-run=true"}
            ):
                seen.append(
                    {**container.labels, "image": container.attrs["Config"]["Image"]}
                )
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = stack.run_storage_flow()
    finally:
        stop.set()
        watcher.join()
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["storage.save"] == {
        "saved": 6,
        "total_in_database": 6,
    }
    assert seen, "no flow-run container was seen while the run went on"
    assert {labels["image"] for labels in seen} == {image}
    assert {labels["io.pulpo.project"] for labels in seen} == {stack.key}

    assert stack.saved_postings() == 6

    down = stack.pulpo("down", timeout=300)
    assert down.returncode == 0, down.stderr[-3000:]
    assert stack.containers(docker_client) == []  # services and flow runs alike
