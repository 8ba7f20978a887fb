"""Run services as detached local processes, with state under ``run_cache/services``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


class LocalProcessBackend:
    """Starts each service as the leader of its own session, under a log supervisor."""

    def __init__(self, run_cache: Path) -> None:
        self.state_dir = run_cache / "services"
        self.log_dir = run_cache / "logs"

    def log_path(self, service: ServiceDefinition) -> Path:
        return self.log_dir / f"{service.name}.log"

    def start(self, service: ServiceDefinition) -> int:
        """Start ``service`` detached; return its pid (the session id)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
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
            env={**os.environ, **service.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.state_dir.parent.parent,
        )
        record = {
            "pid": process.pid,
            "started": processes.start_time(process.pid),
            "started_at": time.time(),
            "command": list(service.command),
        }
        self._record(service).write_text(json.dumps(record))
        return process.pid

    def state(self, service: ServiceDefinition) -> ProcessState:
        record = self._read(service)
        if record is None:
            return ProcessState(running=False)
        pid = int(record["pid"])
        if processes.is_running(pid, record.get("started")):
            return ProcessState(True, pid, record.get("started_at"))
        exit_file = self._exit_file(service)
        code = int(exit_file.read_text()) if exit_file.exists() else None
        return ProcessState(False, pid, record.get("started_at"), code, stale=True)

    def stop(self, service: ServiceDefinition, grace: float = 10.0) -> bool:
        """Stop the service and everything it spawned; False if it was not running."""
        state = self.state(service)
        if state.running and state.pid is not None:
            processes.end_session(state.pid, grace)
        self._record(service).unlink(missing_ok=True)
        return state.running

    def forget(self, service: ServiceDefinition) -> None:
        """Drop the record of a process that is gone (crashed or killed)."""
        record = self._read(service)
        if record is not None:
            processes.end_session(int(record["pid"]), grace=2)  # leftovers, if any
        self._record(service).unlink(missing_ok=True)

    def _record(self, service: ServiceDefinition) -> Path:
        return self.state_dir / f"{service.name}.json"

    def _exit_file(self, service: ServiceDefinition) -> Path:
        return self.state_dir / f"{service.name}.exit"

    def _read(self, service: ServiceDefinition) -> dict | None:
        try:
            return dict(json.loads(self._record(service).read_text()))
        except (OSError, ValueError):
            return None
