"""Run services as detached local processes, with state under ``run_cache/services``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from pulpo.data_dir import private_dir
from pulpo.services import processes
from pulpo.services.definitions import ServiceDefinition

LOG_LIMIT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ProcessState:
    """What the backend knows about a service's process."""

    running: bool
    pid: int | None = None
    started_at: float | None = None
    exit_code: int | None = None
    stale: bool = False  # a record exists but its process is gone
    # Processes of the service that outlived their supervisor or their record.
    orphans: tuple[int, ...] = ()
    # What a stopped service left to say (a container's last log lines).
    detail: str = ""


class LocalProcessBackend:
    """Starts each service as the leader of its own session, under a log supervisor.

    Every process a service runs inherits a marker naming the project and the
    service; stopping signals only processes proven to be the project's.
    """

    def __init__(self, root: Path, run_cache: Path) -> None:
        self.root = root
        self.state_dir = run_cache / "services"
        self.log_dir = run_cache / "logs"

    def log_path(self, service: ServiceDefinition) -> Path:
        return self.log_dir / f"{service.name}.log"

    def start(self, service: ServiceDefinition) -> int:
        """Start ``service`` detached; return the supervisor's pid."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        private_dir(self.log_dir)
        if service.data_dir is not None:
            service.data_dir.mkdir(parents=True, exist_ok=True)
        exit_file = self._exit_file(service)
        for stale in (exit_file, *service.stale_files):
            stale.unlink(missing_ok=True)
        log = self.log_path(service)
        with log.open("ab") as out:
            out.write(
                f"--- pulpo: starting {service.name} at {time.ctime()}\n".encode()
            )
        command = [
            sys.executable,
            "-m",
            "pulpo.services.supervise",
            str(log),
            str(LOG_LIMIT_BYTES),
            str(exit_file),
            "--",
            *service.command,
        ]
        process = subprocess.Popen(
            command,
            env={
                **service.defaults,
                **os.environ,
                **service.env,
                **(service.secret_env() if service.secret_env else {}),
                **processes.marker(self.root, service.name),
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.root,
        )
        record = processes.ProcessRecord.of(process.pid, command)
        self._record(service).write_text(
            json.dumps(
                {
                    "pid": process.pid,
                    "created": record.created if record else None,
                    "command": command,
                    "started_at": time.time(),
                }
            )
        )
        return process.pid

    def state(self, service: ServiceDefinition) -> ProcessState:
        record = self._read(service)
        supervisor = processes.proven(record) if record else None
        if supervisor is not None and record is not None:
            return ProcessState(True, _served_by(supervisor), self._started_at(service))
        orphans = tuple(
            sorted(p.pid for p in processes.marked(self.root).get(service.name, []))
        )
        if record is None:
            return ProcessState(False, orphans[0] if orphans else None, orphans=orphans)
        exit_file = self._exit_file(service)
        try:
            code: int | None = int(exit_file.read_text())
        except (OSError, ValueError):
            code = None
        return ProcessState(
            False,
            record.pid,
            self._started_at(service),
            code,
            stale=True,
            orphans=orphans,
        )

    def stop(self, service: ServiceDefinition, grace: float = 10.0) -> bool:
        """Stop the service and everything it spawned; False if nothing was running."""
        targets = self._processes(service)
        processes.end(targets, grace)
        self._record(service).unlink(missing_ok=True)
        return bool(targets)

    def forget(self, service: ServiceDefinition) -> None:
        """Drop the record of a supervisor that is gone, and stop what it left behind."""
        processes.end(self._processes(service), grace=2)
        self._record(service).unlink(missing_ok=True)

    def _processes(self, service: ServiceDefinition) -> list[psutil.Process]:
        """The service's processes: its proven supervisor's tree and every marked one."""
        record = self._read(service)
        supervisor = processes.proven(record) if record else None
        roots = [supervisor] if supervisor else []
        roots += processes.marked(self.root).get(service.name, [])
        return processes.with_descendants(roots)

    def _record(self, service: ServiceDefinition) -> Path:
        return self.state_dir / f"{service.name}.json"

    def _exit_file(self, service: ServiceDefinition) -> Path:
        return self.state_dir / f"{service.name}.exit"

    def _raw(self, service: ServiceDefinition) -> dict[str, Any]:
        try:
            data = json.loads(self._record(service).read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _read(self, service: ServiceDefinition) -> processes.ProcessRecord | None:
        """The supervisor's record; None when missing, malformed or from an old pulpo."""
        data = self._raw(service)
        try:
            return processes.ProcessRecord(
                int(data["pid"]),
                float(data["created"]),
                tuple(str(part) for part in data["command"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _started_at(self, service: ServiceDefinition) -> float | None:
        value = self._raw(service).get("started_at")
        return float(value) if isinstance(value, int | float) else None


def _served_by(supervisor: psutil.Process) -> int:
    """The pid of the service itself (the supervisor's child), which is what users
    look for in `ps` or `top`; the supervisor's while the child is starting."""
    try:
        children = supervisor.children()
    except psutil.Error:
        children = []
    return children[0].pid if children else supervisor.pid
