"""``db_image`` and ``prefect_image``: the db and prefect services from images of their
own. Nothing can be pulled here, so the test builds stand-ins: an image whose own
command serves the MongoDB protocol on 27017 with its data in /data/db (as ``mongo:7``
does), and another image that has Prefect."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.conftest import run_pulpo
from tests.docker.conftest import DockerStack

# Image builds and the wait for Docker itself (tests/docker/conftest.py) take minutes
# on a fresh machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerStack]:
    made = DockerStack.copy_named(tmp_path_factory.mktemp("service-images"))
    try:
        yield made
    finally:
        made.pulpo("down", timeout=300)
        made.remove_everything(docker_client)


def stand_in(client: Any, stack: DockerStack, name: str, dockerfile: str) -> str:
    tag = f"{name}:{stack.key}"
    client.images.build(
        fileobj=io.BytesIO(dockerfile.encode()),
        tag=tag,
        rm=True,
        network_mode="none",
        labels={"io.pulpo.project": stack.key},  # removed with the test's objects
    )
    return tag


def test_db_and_prefect_run_from_the_images_the_settings_name(
    stack: DockerStack, docker_client: Any
) -> None:
    built = stack.pulpo("build", "--image", timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    project_image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()
    mongo = stand_in(
        docker_client,
        stack,
        "pulpo-test-mongo",
        f"FROM {project_image}\nWORKDIR /\n"
        'CMD ["python", "-m", "nx_27017.nx_27017", "--host", "0.0.0.0", "-p", '
        '"27017", "--data-dir", "/data/db"]\n',
    )
    prefect = stand_in(
        docker_client,
        stack,
        "pulpo-test-prefect",
        f'FROM {project_image}\nWORKDIR /\nCMD ["prefect", "version"]\n',
    )
    stack.env.update({"PULPO_DB_IMAGE": mongo, "PULPO_PREFECT_IMAGE": prefect})

    up = stack.pulpo("up", timeout=900)
    assert up.returncode == 0, up.stderr[-3000:]
    assert [row["state"] for row in stack.status().values()] == ["running"] * 5
    prefix = f"pulpo-{stack.root.name.replace('_', '-')}"
    db = docker_client.containers.get(f"{prefix}-db")
    assert db.attrs["Config"]["Image"] == mongo
    assert db.attrs["Config"]["Cmd"][:3] == ["python", "-m", "nx_27017.nx_27017"]
    assert {m["Destination"] for m in db.attrs["Mounts"]} == {"/data/db"}
    server = docker_client.containers.get(f"{prefix}-prefect")
    assert server.attrs["Config"]["Image"] == prefect
    assert server.attrs["Config"]["Cmd"][:3] == ["prefect", "server", "start"]
    assert docker_client.containers.get(f"{prefix}-api").attrs["Config"]["Image"] == (
        project_image
    )

    run = stack.run_storage_flow()
    assert run.returncode == 0, run.stderr[-3000:]
    assert stack.saved_postings() == 6

    again = stack.pulpo("up", timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert docker_client.containers.get(f"{prefix}-db").id == db.id  # left running

    composed = stack.pulpo("compose", timeout=900)
    assert composed.returncode == 0, composed.stderr[-3000:]
    services = yaml.safe_load((stack.root / "docker-compose.yml").read_text())[
        "services"
    ]
    assert services["db"]["image"] == mongo and "command" not in services["db"]
    assert services["prefect"]["image"] == prefect
    assert services["prefect"]["command"][:3] == ["prefect", "server", "start"]
    # The db image has no health check of pulpo's: the API waits for it to start.
    assert services["api"]["depends_on"]["db"] == {"condition": "service_started"}
    assert services["api"]["depends_on"]["prefect"] == {"condition": "service_healthy"}
    assert stack.pulpo("down", timeout=300).returncode == 0


def test_a_db_image_that_cannot_be_pulled_is_named_with_its_setting(
    stack: DockerStack,
) -> None:
    env = {**stack.env, "PULPO_DB_IMAGE": "pulpo-no-such-db:1"}
    try:
        result = run_pulpo("up", cwd=stack.root, env=env, timeout=900)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert "db's image pulpo-no-such-db:1" in line
        assert "db_image" in line and "PULPO_DB_IMAGE" in line
    finally:
        run_pulpo("down", cwd=stack.root, env=env, timeout=300)
