"""``pulpo build --image``: the project's image, against a real dockerd."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Result, run_pulpo
from tests.docker.conftest import BASE_IMAGE, DockerStack

# Image builds and the wait for Docker itself (tests/docker/conftest.py) take minutes
# on a fresh machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def stack(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerStack]:
    made = DockerStack.copy_named(tmp_path_factory.mktemp("image"))
    try:
        yield made
    finally:
        made.remove_everything(docker_client)


def image_line(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("image "))


def test_build_image_once_per_input_with_the_project_and_its_generated_code(
    stack: DockerStack, docker_client: Any
) -> None:
    secret = stack.root / ".pulpo" / "secrets" / "api_key"
    secret.parent.mkdir(parents=True)
    secret.write_text("never-in-an-image\n")

    first = stack.pulpo("build", "--image", timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    line = image_line(first.stdout)
    repository = f"pulpo-{stack.root.name.replace('_', '-')}"
    assert line.startswith(f"image {repository}:") and "built in" in line
    tag = line.split()[1]
    assert "Step 1/" in first.stderr  # progress streams as the steps start

    docker_files = stack.root / "run_cache" / "docker"
    assert (
        f"FROM {BASE_IMAGE} AS dependencies"
        in (docker_files / "Dockerfile").read_text()
    )
    assert ".pulpo" in (docker_files / ".dockerignore").read_text().splitlines()

    image = docker_client.images.get(tag)
    assert image.labels["io.pulpo.project"] == stack.key
    listing = docker_client.containers.run(
        tag,
        [
            "sh",
            "-c",
            "ls run_cache/orchestration; ls -a; "
            "python -c 'import jobhunter.operations, pulpo, prefect; print(\"imports\")'",
        ],
        remove=True,
        network_mode="none",
    ).decode()
    assert "scraping_flow.py" in listing  # the generated code, behind its link
    assert "imports" in listing  # the project, pulpo and Prefect in the image's venv
    assert ".pulpo" not in listing.split()  # the data directory never goes in

    again = stack.pulpo("build", "--image", timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert image_line(again.stdout) == f"image {tag} (unchanged, not rebuilt)"

    operations = stack.root / "jobhunter" / "operations.py"
    operations.write_text(operations.read_text() + "\n# edited\n")
    edited = stack.pulpo("build", "--image", timeout=900)
    assert edited.returncode == 0, edited.stderr[-3000:]
    new_tag = image_line(edited.stdout).split()[1]
    assert new_tag != tag and "built in" in image_line(edited.stdout)
    assert (docker_files / "image").read_text().strip() == new_tag


def test_a_base_image_that_cannot_be_pulled_is_named(stack: DockerStack) -> None:
    generated = stack.root / "run_cache" / "orchestration" / "scraping_flow.py"
    stack.pulpo("build")
    before = generated.read_text()
    result = _build_with(stack, "pulpo-no-such-image:1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "pulpo-no-such-image:1" in line and "base_image" in line
    assert generated.read_text() == before  # earlier generated files are intact


def test_a_base_image_without_python_is_named(
    stack: DockerStack, docker_client: Any
) -> None:
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as archive:
        entry = tarfile.TarInfo("README")
        entry.size = 2
        archive.addfile(entry, io.BytesIO(b"hi"))
    docker_client.api.import_image_from_data(
        empty.getvalue(), repository="pulpo-test-no-python", tag="1"
    )
    try:
        result = _build_with(stack, "pulpo-test-no-python:1")
    finally:
        docker_client.images.remove("pulpo-test-no-python:1", force=True)
    # The probe that found no python3 left no container behind.
    assert not docker_client.containers.list(
        all=True, filters={"label": "io.pulpo.project=probe"}
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "pulpo-test-no-python:1" in line and "python3" in line
    assert "base_image" in line


def test_a_failing_step_prints_its_log_and_exits_1(
    stack: DockerStack, docker_client: Any
) -> None:
    # Python works (the probe passes) but `python3 -m venv` fails in the build.
    docker_client.images.build(
        fileobj=io.BytesIO(
            f"FROM {BASE_IMAGE}\nRUN rm -rf /usr/lib/python3.11/venv\n".encode()
        ),
        tag="pulpo-test-no-venv:1",
        rm=True,
        network_mode="none",
    )
    base = docker_client.images.get("pulpo-test-no-venv:1").id
    try:
        result = _build_with(stack, "pulpo-test-no-venv:1")
    finally:
        remove_with_descendants(docker_client, base)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "failed at Step" in line and "python3 -m venv" in line
    assert "build.log" in line
    assert "No module named venv" in result.stderr  # the failed step's own output
    log = stack.root / "run_cache" / "docker" / "build.log"
    assert "No module named venv" in log.read_text()


def _build_with(stack: DockerStack, base_image: str) -> Result:
    env = {**stack.env, "PULPO_BASE_IMAGE": base_image}
    return run_pulpo("build", "--image", cwd=stack.root, env=env, timeout=600)


def remove_with_descendants(client: Any, image_id: str) -> None:
    """Remove an image and the layers a failed build left on top of it."""
    images = client.images.list(all=True)
    doomed = {image_id}
    grew = True
    while grew:
        children = {i.id for i in images if i.attrs.get("Parent") in doomed}
        grew = not children <= doomed
        doomed |= children
    parents = {i.attrs.get("Parent") for i in images if i.id in doomed}
    while doomed:  # leaves first: Docker refuses to remove an image with children
        leaves = doomed - parents
        for image in leaves:
            client.images.remove(image, force=True)
        doomed -= leaves
        parents = {i.attrs.get("Parent") for i in images if i.id in doomed}
