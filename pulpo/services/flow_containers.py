"""Flow runs as containers (``worker_type = "docker"``).

The project's work pool is then a Prefect Docker work pool: its workers (a host
process with ``backend = "processes"``, a container with the Docker socket with
``backend = "docker"``) start one container of the project's image per flow run.
Each deployment carries what that container needs (``job_variables``): the image
(never pulled: it exists only on this Docker), the network on which it reaches the
database and the Prefect server, the project's settings, the results folder at the
same path as the process worker's runs have it, and the project's labels, by which
pulpo finds the containers its workers started (and only those) to stop them.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from pulpo.errors import ServiceError
from pulpo.project import Project
from pulpo.settings import Settings

# Marks a container a Docker worker started for a flow run (besides the project).
FLOW_RUN_LABEL = "io.pulpo.flow-run"
# The Docker worker's own label: the name of the worker that started the container.
WORKER_LABEL = "io.prefect.worker-name"


def require_prefect_docker() -> None:
    """Raise unless Prefect's Docker worker (prefect-docker) is installed here.

    Raises:
        ServiceError: naming the extra to install.
    """
    if importlib.util.find_spec("prefect_docker") is None:
        raise ServiceError(
            "worker_type = 'docker' needs Prefect's Docker worker, which is not "
            "installed; pip install 'pulpo[docker-worker]' (or set worker_type = "
            "'process')"
        )


def pool_template(worker_type: str) -> dict[str, Any]:
    """The base job template of a work pool of ``worker_type``."""
    if worker_type == "docker":
        require_prefect_docker()
        from prefect_docker.worker import DockerWorker

        return dict(DockerWorker.get_default_base_job_template())
    from prefect.workers.process import ProcessWorker

    return dict(ProcessWorker.get_default_base_job_template())


def flow_run_labels(project: Project) -> dict[str, str]:
    """The labels of a flow run's container: the project's, and the flow-run mark."""
    from pulpo.services.containers import labels

    return {**labels(project), FLOW_RUN_LABEL: "true"}


def job_variables(project: Project, settings: Settings) -> dict[str, Any]:
    """What each deployment of a Docker work pool tells its flow runs' containers.

    The Prefect address and key come from the worker itself (Prefect hands its own
    settings down); the database and pulpo's settings are the ones the process
    worker's runs get, as a container sees them.

    Raises:
        ServiceError: the project's image was not built yet.
    """
    from pulpo.services.containers import inside, network_name
    from pulpo.services.definitions import handed_down
    from pulpo.services.image_tag import built_image

    results = str(project.data_dir / "results")
    if settings.backend == "docker":
        # On the project's network: the database and Prefect by their service names.
        where: dict[str, Any] = {"networks": [network_name(project)]}
        environment = inside(settings)
    else:
        # The services listen on the host's loopback: so does the container.
        where = {"network_mode": "host"}
        environment = handed_down(settings)
    return run_container(
        built_image(project),
        where,
        environment,
        f"{results}:{results}",
        flow_run_labels(project),
    )


def run_container(
    image: str,
    where: dict[str, Any],
    environment: dict[str, str],
    results: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    """The job variables of a flow run's container: ``image`` (never pulled), on the
    network ``where`` names, with ``results`` mounted, removed when it ends."""
    return {
        "image": image,
        "image_pull_policy": "Never",
        **where,
        "env": environment,
        "volumes": [results],
        "labels": labels,
        "auto_remove": True,
    }


def flow_run_containers(project: Project, worker: str | None = None) -> list[Any]:
    """The containers Docker workers started for the project's flow runs (those of
    ``worker``, a worker's Prefect name, when given), running or not."""
    from pulpo.services.docker_client import PROJECT_LABEL, docker_client
    from pulpo.services.image_tag import project_label

    selector = [f"{PROJECT_LABEL}={project_label(project)}", f"{FLOW_RUN_LABEL}=true"]
    if worker is not None:
        selector.append(f"{WORKER_LABEL}={worker}")
    client = docker_client()
    return list(client.containers.list(all=True, filters={"label": selector}))


def remove_flow_run_containers(project: Project, worker: str | None = None) -> int:
    """Remove the project's flow-run containers (``worker``'s only, when given);
    return how many. Without a Docker to ask there are none."""
    from docker.errors import APIError, NotFound

    try:
        found = flow_run_containers(project, worker)
    except ServiceError:
        return 0
    removed = 0
    for container in found:
        try:
            container.remove(force=True)
            removed += 1
        except NotFound:  # auto_remove took it meanwhile
            pass
        except APIError as error:
            if "already in progress" not in str(error):
                raise
    return removed
