"""``pulpo build --image``: the project's image, built with the docker SDK.

One image per project holds pulpo, the project's dependencies, the project and its
generated code; every container of the docker backend runs it. Its tag is
``pulpo-<project>:<hash of the inputs>`` (the build context and the base image), so
an unchanged project is not built again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulpo.containers.context import collect
from pulpo.containers.requirements import project_requirements
from pulpo.containers.wheelhouse import ensure_wheels
from pulpo.errors import ServiceError
from pulpo.orchestration.templating import render
from pulpo.project import Project
from pulpo.services.containers import WORKDIR
from pulpo.services.docker_client import (
    PROJECT_LABEL,
    docker_client,
    local_or_pulled,
)
from pulpo.services.image_tag import TAG_FILE, image_repository, project_label
from pulpo.settings import Settings

VENV = "/opt/pulpo/venv"
# Docker's builder lists the images built on a step's parent to find a cached layer,
# then reads each; one removed in between (another project's `docker rmi`, a prune)
# fails the build with this. Building again looks again.
CACHE_RACE = 'unable to find image "sha256:'
BUILD_ATTEMPTS = 3


@dataclass(frozen=True)
class ImageBuild:
    """The image of a build: its tag, whether it was built now (else it existed),
    and seconds spent collecting wheels and building."""

    tag: str
    built: bool
    wheels_seconds: float
    build_seconds: float


def default_base_image() -> str:
    """The official slim Python image of this interpreter's minor version."""
    return f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def write_docker_files(project: Project, settings: Settings) -> Path:
    """Render ``run_cache/docker/Dockerfile`` and ``.dockerignore``; return the folder."""
    folder = project.run_cache / "docker"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(
        render(
            "docker/Dockerfile.j2",
            base_image=settings.base_image or default_base_image(),
            project=project.name,
            key=project_label(project),
            venv=VENV,
            workdir=WORKDIR,
        )
    )
    data_dir = project.data_dir
    relative = (
        data_dir.relative_to(project.root)
        if data_dir.is_relative_to(project.root)
        else None
    )
    (folder / ".dockerignore").write_text(
        render(
            "docker/dockerignore.j2",
            data_dir=str(relative) if relative else project.settings.data_dir,
        )
    )
    return folder


def build_image(
    project: Project, settings: Settings, notify: Callable[[str], None]
) -> ImageBuild:
    """Write the Docker files, collect the wheels and build the image unless an image
    of the same inputs exists; ``notify`` receives the build's progress.

    Raises:
        ServiceError: Docker does not answer, the base image is missing and cannot be
            pulled, or a build step failed (its log is sent to ``notify`` first).
    """
    folder = write_docker_files(project, settings)
    client = docker_client()
    base = settings.base_image or default_base_image()
    base_id = _base_image_id(client, base, notify)
    started = time.perf_counter()
    environment = python_environment(client, base, base_id, folder)
    requirements = project_requirements(project, environment)
    (folder / "requirements.txt").write_text(requirements.dependencies_text())
    if ensure_wheels(requirements, folder):
        notify(f"collected wheels for the image ({len(requirements.pins) + 1})")
    wheels_seconds = time.perf_counter() - started
    context = collect(project.root, folder / ".dockerignore")
    inputs = hashlib.sha256(f"{base}\0{base_id}\0{context.digest()}".encode())
    tag = f"{image_repository(project)}:{inputs.hexdigest()[:12]}"
    started = time.perf_counter()
    built = not _exists(client, tag)
    if built:
        notify(f"building image {tag} from {base}")
        for attempt in range(1, BUILD_ATTEMPTS + 1):
            try:
                _build(
                    client, project, context.tar(), tag, folder / "build.log", notify
                )
                break
            except ServiceError as error:
                if CACHE_RACE not in str(error) or attempt == BUILD_ATTEMPTS:
                    raise
                notify(
                    "an image Docker was reading as build cache was removed meanwhile "
                    "(a prune or another build); building again"
                )
    (folder / TAG_FILE).write_text(tag + "\n")
    return ImageBuild(tag, built, wheels_seconds, time.perf_counter() - started)


# The marker variables of the image's Python (what packaging.markers computes).
PROBE = """\
import json, os, platform, sys
v = sys.implementation.version
level = "" if v.releaselevel == "final" else v.releaselevel[0] + str(v.serial)
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{v.major}.{v.minor}.{v.micro}{level}",
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_python_implementation": platform.python_implementation(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))
"""


def python_environment(
    client: Any, base: str, base_id: str, folder: Path
) -> dict[str, str]:
    """The marker variables of the base image's ``python3`` (asked once per image).

    Raises:
        ServiceError: the base image has no ``python3``.
    """
    from docker.errors import DockerException

    cache = folder / f"python-{base_id.removeprefix('sha256:')[:16]}.json"
    try:
        return dict(json.loads(cache.read_text()))
    except (OSError, ValueError):
        pass
    container = None
    try:
        container = client.containers.create(
            base_id,
            ["python3", "-c", PROBE],
            network_mode="none",
            labels={PROJECT_LABEL: "probe"},
        )
        container.start()
        if container.wait(timeout=60).get("StatusCode") != 0:
            raise ValueError(bytes(container.logs()).decode(errors="replace"))
        environment = dict(json.loads(container.logs(stderr=False)))
    except (DockerException, ValueError) as error:
        reason = getattr(error, "explanation", None) or str(error)
        raise ServiceError(
            f"base image {base} has no working python3 ({reason[:200]}); set "
            f"base_image (PULPO_BASE_IMAGE) to an image with Python "
            f"{sys.version_info.major}.{sys.version_info.minor}",
            image=base,
        ) from None
    finally:
        if container is not None:  # also one that could not start (no python3)
            container.remove(force=True)
    cache.write_text(json.dumps(environment, sort_keys=True))
    return environment


def _exists(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def _base_image_id(client: Any, base: str, notify: Callable[[str], None]) -> str:
    """The id of the base image, pulled first when this Docker does not have it."""
    from docker.errors import ImageNotFound

    try:
        return str(client.images.get(base).id)
    except ImageNotFound:
        notify(f"pulling base image {base}")
    return local_or_pulled(
        client,
        base,
        lambda reason: (
            f"base image {base} is not here and cannot be pulled ({reason}); set "
            f"base_image in [tool.pulpo] (or PULPO_BASE_IMAGE) to an image with "
            f"Python {sys.version_info.major}.{sys.version_info.minor} that this "
            f"Docker has or can pull"
        ),
    )


def _build(
    client: Any,
    project: Project,
    context: Any,
    tag: str,
    log_path: Path,
    notify: Callable[[str], None],
) -> None:
    """Build ``tag``; steps go to ``notify`` as they start, everything to the log."""
    from docker.errors import DockerException

    step: list[str] = []
    with log_path.open("w") as log:
        try:
            stream = client.api.build(
                fileobj=context,
                custom_context=True,
                dockerfile="run_cache/docker/Dockerfile",
                tag=tag,
                # The index is reachable only from the host's network.
                network_mode="host",
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                labels={
                    PROJECT_LABEL: project_label(project),
                    "io.pulpo.project.name": project.name,
                },
            )
        except DockerException as error:
            reason = getattr(error, "explanation", None) or str(error)
            raise ServiceError(f"building image {tag} failed: {reason}") from None
        for chunk in stream:
            if "error" in chunk:
                log.write(f"error: {chunk['error']}\n")
                for line in step:
                    notify(f"  | {line}")
                raise ServiceError(
                    f"building image {tag} failed at {step[0] if step else 'the start'}: "
                    f"{chunk['error'].strip()}; full log: {log_path}",
                    image=tag,
                )
            text = chunk.get("stream") or chunk.get("status") or ""
            if not text:
                if chunk.get("aux"):
                    log.write(json.dumps(chunk["aux"]) + "\n")
                continue
            log.write(text)
            for line in text.splitlines():
                if line.startswith("Step "):
                    step = [line]
                    notify(line)
                elif line.strip():
                    step.append(line)
