"""The Docker daemon, reached through the docker SDK (imported only when used)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
