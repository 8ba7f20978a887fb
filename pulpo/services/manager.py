"""``ServiceManager``: start, stop and watch a project's services in dependency order."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from pulpo.errors import ServiceError
from pulpo.project import Project
from pulpo.services import processes
from pulpo.services.definitions import (
    ServiceDefinition,
    project_services,
    worker_name,
)
from pulpo.services.flow_containers import remove_flow_run_containers
from pulpo.services.health import VERDICT_SECONDS
from pulpo.services.local import LocalProcessBackend, ProcessState
from pulpo.settings import Settings

# How long a service that is already running may take to answer (e.g. still starting).
RUNNING_ANSWER_SECONDS = 15.0

State = Literal[
    "running", "unhealthy", "stopped", "crashed", "orphaned", "external", "unreachable"
]


class Backend(Protocol):
    """Runs service definitions somewhere: local processes, containers, …"""

    def start(self, service: ServiceDefinition) -> int: ...
    def stop(self, service: ServiceDefinition, grace: float = 10.0) -> bool: ...
    def state(self, service: ServiceDefinition) -> ProcessState: ...
    def forget(self, service: ServiceDefinition) -> None: ...
    def log_path(self, service: ServiceDefinition) -> Path: ...


@runtime_checkable
class LogSource(Protocol):
    """A backend that keeps the logs itself (Docker) instead of files."""

    def logs(self, service: ServiceDefinition, lines: int) -> str: ...
    def follow(self, service: ServiceDefinition, lines: int) -> Iterator[str]: ...


def _backend_of(project: Project, settings: Settings) -> Backend:
    """The backend the settings name."""
    if settings.backend == "docker":
        from pulpo.services.docker_backend import DockerBackend

        return DockerBackend(project, settings)
    return LocalProcessBackend(project.root, project.run_cache)


BACKEND_RECORD = "backend"


def remember_backend(project: Project, backend: str) -> None:
    folder = project.run_cache / "services"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BACKEND_RECORD).write_text(backend + "\n")


def forget_backend(project: Project) -> None:
    (project.run_cache / "services" / BACKEND_RECORD).unlink(missing_ok=True)


def started_with_docker(project: Project) -> bool:
    """``pulpo up --backend docker`` left a record: later commands act on containers."""
    path = project.run_cache / "services" / BACKEND_RECORD
    return path.is_file() and path.read_text().strip() == "docker"


@dataclass(frozen=True)
class ServiceStatus:
    """One row of ``pulpo status``."""

    name: str
    state: State
    address: str
    pid: int | None = None
    uptime: float | None = None
    healthy: bool | None = None
    detail: str = ""


def status_exit_code(rows: list[ServiceStatus]) -> int:
    """0 when every service runs, 3 when some are stopped, 1 when one is broken."""
    states = {row.state for row in rows}
    if states - {"running", "external", "stopped"}:
        return 1
    return 3 if "stopped" in states else 0


class ServiceManager:
    """Starts services after their dependencies and waits for them to be healthy."""

    def __init__(
        self,
        project: Project,
        settings: Settings | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.project = project
        self.settings = settings or project.settings
        if self.settings.backend != "docker" and started_with_docker(project):
            # `up --backend docker` started the stack: act on its containers.
            self.settings = self.settings.model_copy(update={"backend": "docker"})
        self.services = project_services(project, self.settings)
        self.backend: Backend = backend or _backend_of(project, self.settings)

    def service(self, name: str) -> ServiceDefinition:
        if name not in self.services:
            raise ServiceError.unknown(name, list(self.services))
        return self.services[name]

    def up(self) -> list[ServiceStatus]:
        """Start every service (each after what it depends on), healthy, in order."""
        with self._lock():
            for name in self.services:
                self._ensure(name)
        return self.status()

    def down(self) -> list[str]:
        """Stop every service in reverse order; return the names that were running.

        With ``worker_type = "docker"`` also every flow-run container of the project
        that is left (one whose worker was renamed or gone)."""
        with self._lock():
            stopped = [name for name in reversed(self.services) if self._stop(name)]
            if self.settings.worker_type == "docker":
                remove_flow_run_containers(self.project)
            return stopped

    def start(self, name: str) -> list[ServiceStatus]:
        """Start one service (every worker, for ``worker``) and what it depends on; a
        running service is left alone."""
        members = self._members(name)
        with self._lock():
            for member in members:
                self._ensure(member)
        return self.status()

    def stop(self, name: str) -> bool:
        """Stop one service (not its dependencies); False if it was not running."""
        members = self._members(name)
        with self._lock():
            return any([self._stop(member) for member in reversed(members)])

    def restart(self, name: str) -> list[ServiceStatus]:
        members = self._members(name)
        with self._lock():
            for member in reversed(members):
                self._stop(member)
            for member in members:
                self._ensure(member)
        return self.status()

    def status(self, name: str | None = None) -> list[ServiceStatus]:
        names = self._members(name) if name else list(self.services)
        return [self._status(self.services[n]) for n in names]

    def _members(self, name: str) -> list[str]:
        """``name``, or every service of the group ``name`` (``worker``: all workers)."""
        self.service(name)
        return [
            member
            for member, service in self.services.items()
            if member == name or service.group == name
        ]

    def is_running(self, name: str) -> bool:
        return self._status(self.service(name)).state == "running"

    def logs(self, name: str, lines: int = 50) -> str:
        """The last ``lines`` lines of the service's log."""
        if isinstance(self.backend, LogSource):  # containers log to Docker
            return self.backend.logs(self.service(name), lines)
        path = self.backend.log_path(self.service(name))
        if not path.exists():
            return ""
        return "".join(
            path.read_text(errors="replace").splitlines(keepends=True)[-lines:]
        )

    def follow(self, name: str, lines: int = 50) -> Iterator[str]:
        """The last lines, then new ones as they are written (until interrupted)."""
        if isinstance(self.backend, LogSource):
            yield from self.backend.follow(self.service(name), lines)
            return
        path = self.backend.log_path(self.service(name))
        yield self.logs(name, lines)
        position = path.stat().st_size if path.exists() else 0
        while True:
            if path.exists() and path.stat().st_size < position:
                position = 0  # rotated
            if path.exists() and path.stat().st_size > position:
                with path.open(errors="replace") as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    position = handle.tell()
                yield chunk
            time.sleep(0.3)

    def _ensure(self, name: str) -> None:
        service = self.services[name]
        for dependency in service.depends_on:
            self._ensure(dependency)
        if service.external:
            if not service.health():
                raise ServiceError(
                    f"{name} is external ({service.external}) and does not answer; "
                    f"check that server or unset MONGODB_URL to use pulpo's own"
                )
            return
        state = self.backend.state(service)
        if state.running:
            self._check_answers(service, state.pid)
            return
        if state.stale or state.orphans:
            self.backend.forget(service)
        self._check_port(service)
        if service.preflight is not None:
            service.preflight()
        self.backend.start(service)
        self._wait_healthy(service)

    def _stop(self, name: str) -> bool:
        service = self.services[name]
        if service.external:
            return False
        stopped = self.backend.stop(service)
        if service.group == "worker" and self.settings.worker_type == "docker":
            # Its flow runs' containers go with it, as a process worker's runs do.
            worker = worker_name(self.settings.work_pool, name)
            remove_flow_run_containers(self.project, worker)
        return stopped

    def _check_port(self, service: ServiceDefinition) -> None:
        host = {"api": self.settings.api_host, "ui": self.settings.ui_host}.get(
            service.name, self.settings.host
        )
        if service.port is None or processes.port_is_free(host, service.port):
            return
        holders = [
            f"pid {pid} ({processes.command_line(pid)[:80]})"
            for pid in processes.port_holders(service.port)
        ]
        raise ServiceError.port_in_use(service.name, service.port, holders)

    def _check_answers(self, service: ServiceDefinition, pid: int | None) -> None:
        """A service already running must answer where the settings say it is."""
        deadline = time.monotonic() + RUNNING_ANSWER_SECONDS
        while not service.health():
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{service.name} is running (pid {pid}) but does not answer at "
                    f"{service.address}; if it was started with other settings "
                    f"(ports, PULPO_* variables), run `pulpo {service.name} restart`"
                )
            time.sleep(0.25)

    def _wait_healthy(self, service: ServiceDefinition) -> None:
        deadline = time.monotonic() + service.start_timeout
        while time.monotonic() < deadline:
            if service.health():
                return
            if not self.backend.state(service).running:
                tail = [
                    line[:300]
                    for line in self.logs(service.name, 15).strip().splitlines()[-3:]
                ]
                raise ServiceError(
                    f"{service.name} exited while starting; last log lines: "
                    f"{' | '.join(tail) or '(none)'}; full log: pulpo logs {service.name}"
                )
            time.sleep(0.25)
        raise ServiceError(
            f"{service.name} did not become healthy within {service.start_timeout:.0f} s; "
            f"see pulpo logs {service.name}"
        )

    def _status(self, service: ServiceDefinition) -> ServiceStatus:
        if service.external:
            healthy = service.health(timeout=VERDICT_SECONDS)
            return ServiceStatus(
                service.name,
                "external" if healthy else "unreachable",
                service.address,
                healthy=healthy,
                detail="MONGODB_URL",
            )
        state = self.backend.state(service)
        if state.running:
            healthy = service.health(timeout=VERDICT_SECONDS)
            uptime = time.time() - state.started_at if state.started_at else None
            return ServiceStatus(
                service.name,
                "running" if healthy else "unhealthy",
                service.address,
                state.pid,
                uptime,
                healthy,
            )
        if state.orphans:
            answers = (
                "answers"
                if service.health(timeout=VERDICT_SECONDS)
                else "does not answer"
            )
            pids = ", ".join(map(str, state.orphans))
            return ServiceStatus(
                service.name,
                "orphaned",
                service.address,
                state.orphans[0],
                healthy=False,
                detail=f"supervisor gone, pid {pids} {answers}",
            )
        if state.stale:
            detail = (
                "killed" if state.exit_code is None else f"exit code {state.exit_code}"
            )
            if state.detail:
                detail += f"; last lines: {state.detail}"
            return ServiceStatus(
                service.name, "crashed", service.address, state.pid, detail=detail
            )
        return ServiceStatus(service.name, "stopped", service.address)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One ``up``/``down``/``start`` at a time per project (others wait)."""
        lock_dir = self.project.run_cache / "services"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with (lock_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
