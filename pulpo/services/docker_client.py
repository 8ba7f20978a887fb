"""The Docker daemon, reached through the docker SDK (imported only when used)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pulpo.errors import ServiceError

if TYPE_CHECKING:
    import docker

PROJECT_LABEL = "io.pulpo.project"
"""Label on every image, container, network and volume pulpo makes: the project key."""
SERVICE_LABEL = "io.pulpo.service"


def docker_client() -> docker.DockerClient:
    """A client of the daemon ``DOCKER_HOST`` names (default: the local socket).

    Raises:
        ServiceError: the docker package is missing or the daemon does not answer,
            saying how to start it.
    """
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a dependency of pulpo
        raise ServiceError(
            "the docker backend needs the docker package; pip install docker"
        ) from None
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as error:
        reason = " ".join(str(error).split())[:200] or type(error).__name__
        raise ServiceError(
            f"the Docker daemon does not answer ({reason}); start it (`sudo "
            f"systemctl start docker`, or `sudo dockerd &`), check DOCKER_HOST, or "
            f'use backend = "processes"'
        ) from None
    return client


def local_or_pulled(client: Any, reference: str, explain: Callable[[str], str]) -> str:
    """The id of image ``reference``, pulled first when this Docker lacks it.

    Raises:
        ServiceError: ``explain(reason)`` when it cannot be pulled.
    """
    from docker.errors import DockerException, ImageNotFound

    try:
        return str(client.images.get(reference).id)
    except ImageNotFound:
        pass
    try:
        return str(client.images.pull(reference).id)
    except DockerException as error:
        reason = getattr(error, "explanation", None) or str(error)
        raise ServiceError(explain(" ".join(str(reason).split())[:200])) from None
