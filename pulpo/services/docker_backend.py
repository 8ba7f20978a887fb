"""Run services as containers of the project's image (``backend = "docker"``).

Every container, the network and the volumes carry the project's label; pulpo acts
only on objects with its own project's label and refuses to touch a same-named one
of another project. ``down`` removes containers and keeps volumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pulpo.errors import ServiceError
from pulpo.project import Project
from pulpo.services.containers import (
    WORKDIR,
    ContainerSpec,
    container_name,
    container_spec,
    labels,
    network_name,
    volume_name,
)
from pulpo.services.definitions import ServiceDefinition
from pulpo.services.docker_client import (
    PROJECT_LABEL,
    SERVICE_LABEL,
    docker_client,
    local_or_pulled,
)
from pulpo.services.image_tag import built_image, project_label
from pulpo.services.local import ProcessState
from pulpo.settings import Settings, variable

RESTART_POLICY = {"Name": "unless-stopped"}
# Docker's own health check of each container, shown by `docker ps`.
HEALTH_INTERVAL_NS = 5_000_000_000


class DockerBackend:
    """Starts each service as a container of the image ``pulpo build`` recorded."""

    def __init__(self, project: Project, settings: Settings) -> None:
        self.project = project
        self.settings = settings
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def log_path(self, service: ServiceDefinition) -> Path:
        # Containers log to Docker; this file is never written (see logs()).
        return self.project.run_cache / "logs" / f"{service.name}.container.log"

    def start(self, service: ServiceDefinition) -> int:
        """Run ``service``'s container (its network and volumes first); return its pid."""
        spec = container_spec(self.project, self.settings, service, secrets=True)
        image = self._image_of(spec)
        self._network()
        for kind in spec.volumes:
            self._volume(kind)
        for path in spec.binds:
            Path(path).mkdir(parents=True, exist_ok=True)
        self._remove_own(service.name)
        from docker.errors import APIError

        health = (
            {
                "test": ["CMD", *spec.health],
                "interval": HEALTH_INTERVAL_NS,
                "timeout": 3_000_000_000,
                "retries": 3,
                # Compose, and `docker ps`, call it unhealthy no sooner than
                # `pulpo up` gives up on it.
                "start_period": int(service.start_timeout * 1_000_000_000),
            }
            if spec.health
            else None
        )
        try:
            container = self.client.containers.run(
                image,
                list(spec.command) or None,
                name=container_name(self.project, service.name),
                detach=True,
                environment={**spec.environment, **spec.secrets},
                labels=labels(self.project, service.name),
                network=network_name(self.project),
                # Other containers reach it by the service's name (db, prefect, …).
                networking_config={
                    network_name(self.project): self.client.api.create_endpoint_config(
                        aliases=[service.name]
                    )
                },
                ports={f"{inner}/tcp": outer for inner, outer in spec.ports.items()},
                volumes={
                    **{
                        volume_name(self.project, kind): {"bind": path, "mode": "rw"}
                        for kind, path in spec.volumes.items()
                    },
                    **{
                        path: {"bind": path, "mode": "rw"}
                        for path in (*spec.binds, *spec.sockets)
                    },
                },
                restart_policy=RESTART_POLICY,
                healthcheck=health,
                # The project's image holds the project there; another image keeps
                # its own.
                working_dir=WORKDIR if spec.image is None else None,
                init=True,
            )
        except APIError as error:
            raise ServiceError(
                f"cannot start {service.name}'s container: {error.explanation or error}",
                service=service.name,
            ) from None
        container.reload()
        return int(container.attrs["State"].get("Pid") or 0)

    def state(self, service: ServiceDefinition) -> ProcessState:
        container = self._own(service.name)
        if container is None:
            return ProcessState(False)
        state = container.attrs["State"]
        started = _timestamp(state.get("StartedAt"))
        if state.get("Running") and not state.get("Restarting"):
            return ProcessState(True, int(state.get("Pid") or 0) or None, started)
        return ProcessState(
            False,
            None,
            started,
            int(state.get("ExitCode", 0)),
            stale=True,
            detail=self._last_lines(container),
        )

    def stop(self, service: ServiceDefinition, grace: float = 10.0) -> bool:
        """Stop and remove the service's container; False if it was not running."""
        container = self._own(service.name)
        if container is None:
            return False
        running = bool(container.attrs["State"].get("Running"))
        if running:
            container.stop(timeout=int(grace))
        container.remove(force=True)
        self._remove_network_if_idle()
        return running

    def forget(self, service: ServiceDefinition) -> None:
        self._remove_own(service.name)

    def logs(self, service: ServiceDefinition, lines: int) -> str:
        container = self._own(service.name)
        if container is None:
            return ""
        return bytes(container.logs(tail=lines)).decode(errors="replace")

    def follow(self, service: ServiceDefinition, lines: int) -> Iterator[str]:
        container = self._own(service.name)
        if container is None:
            return
        for chunk in container.logs(stream=True, follow=True, tail=lines):
            yield bytes(chunk).decode(errors="replace")

    def outdated(self) -> list[str]:
        """Services whose container runs another image than the one they should: the
        one last built, or ``db_image`` / ``prefect_image`` when set."""
        from docker.errors import ImageNotFound

        wanted = {
            "db": self.settings.db_image,
            "prefect": self.settings.prefect_image,
        }
        ids: dict[str | None, str | None] = {}
        for reference in {None, *wanted.values()}:
            try:
                ids[reference] = self.client.images.get(
                    reference or built_image(self.project)
                ).id
            except ImageNotFound:
                ids[reference] = None
        found = []
        for container in self.containers():
            service = container.labels.get(SERVICE_LABEL)
            current = ids[wanted.get(service or "")]
            if service and current and container.image is not None:
                if container.image.id != current:
                    found.append(service)
        return sorted(found)

    def _image_of(self, spec: ContainerSpec) -> str:
        """The image of ``spec``'s container, pulled first when set by a setting and
        missing here.

        Raises:
            ServiceError: it is not here and cannot be pulled, naming the setting.
        """
        if spec.image is None:
            return built_image(self.project)
        setting = spec.image_setting or ""
        local_or_pulled(
            self.client,
            spec.image,
            lambda reason: (
                f"{spec.service}'s image {spec.image} is not here and cannot be "
                f"pulled ({reason}); load it into this Docker, or unset {setting} "
                f"({variable(setting)}) to run {spec.service} from the project's image"
            ),
        )
        return spec.image

    def containers(self) -> list[Any]:
        """Every container of the project, running or not."""
        return list(
            self.client.containers.list(
                all=True,
                filters={"label": f"{PROJECT_LABEL}={project_label(self.project)}"},
            )
        )

    def volumes(self) -> list[Any]:
        return list(
            self.client.volumes.list(
                filters={"label": f"{PROJECT_LABEL}={project_label(self.project)}"}
            )
        )

    def containers_using(self, volume: str) -> list[str]:
        """The names of the containers, running or stopped, that mount ``volume``."""
        found = self.client.containers.list(all=True, filters={"volume": volume})
        return sorted(container.name for container in found)

    def _own(self, service: str) -> Any:
        """The service's container; None when there is none.

        Raises:
            ServiceError: a container of that name belongs to something else.
        """
        from docker.errors import NotFound

        name = container_name(self.project, service)
        try:
            container = self.client.containers.get(name)
        except NotFound:
            return None
        owner = container.labels.get(PROJECT_LABEL)
        if owner != project_label(self.project):
            root = container.labels.get("io.pulpo.project.root")
            whose = f"the project at {root}" if root else "another program"
            raise ServiceError(
                f"a container named {name} already exists and belongs to {whose}; "
                f"pulpo leaves it alone: remove it yourself, or rename this project's "
                f"directory",
                service=service,
            )
        return container

    def _remove_own(self, service: str) -> None:
        container = self._own(service)
        if container is not None:
            container.remove(force=True)

    def _network(self) -> None:
        from docker.errors import NotFound

        name = network_name(self.project)
        try:
            network = self.client.networks.get(name)
        except NotFound:
            self.client.networks.create(
                name, driver="bridge", labels=labels(self.project)
            )
            return
        self._check_owner(network.attrs.get("Labels") or {}, f"a network named {name}")

    def _volume(self, kind: str) -> None:
        from docker.errors import NotFound

        name = volume_name(self.project, kind)
        try:
            volume = self.client.volumes.get(name)
        except NotFound:
            self.client.volumes.create(name, labels=labels(self.project))
            return
        self._check_owner(volume.attrs.get("Labels") or {}, f"a volume named {name}")

    def _check_owner(self, found: dict[str, str], what: str) -> None:
        if found.get(PROJECT_LABEL) != project_label(self.project):
            root = found.get("io.pulpo.project.root")
            whose = f"the project at {root}" if root else "another program"
            raise ServiceError(
                f"{what} already exists and belongs to {whose}; pulpo leaves it "
                f"alone: remove it yourself, or rename this project's directory"
            )

    def _remove_network_if_idle(self) -> None:
        from docker.errors import APIError, NotFound

        if any(c.status != "exited" for c in self.containers()):
            return
        try:
            network = self.client.networks.get(network_name(self.project))
            if network.attrs.get("Labels", {}).get(PROJECT_LABEL) == project_label(
                self.project
            ):
                network.remove()
        except (NotFound, APIError):
            pass

    def _last_lines(self, container: Any) -> str:
        try:
            text = bytes(container.logs(tail=3)).decode(errors="replace")
        except Exception:  # a log driver that cannot be read back
            return ""
        return " | ".join(line[:200] for line in text.strip().splitlines())


def _timestamp(text: str | None) -> float | None:
    if not text or text.startswith("0001"):
        return None
    # Docker writes nanoseconds; Python's fromisoformat reads at most microseconds.
    head, _, tail = text.rstrip("Z").partition(".")
    fraction = (tail + "000000")[:6]
    return datetime.fromisoformat(f"{head}.{fraction}+00:00").timestamp()
