"""Which processes are pulpo's, proven before any is signalled; ports and who holds them.

A process is pulpo's when it matches its record exactly (pid, creation time and
command line: a reused pid matches none of them for long) or when it carries the
marker every service process inherits from the supervisor pulpo started. The marker
finds a project's processes even after their records are gone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

MARKER = "PULPO_SERVICE_OF"
"""Environment variable set on each service process: ``<project key>/<service>``."""


def project_key(root: Path) -> str:
    """A short id of the project directory, the same for every command run there."""
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]


def marker(root: Path, service: str) -> dict[str, str]:
    """The environment entry that marks ``service`` of the project at ``root``."""
    return {MARKER: f"{project_key(root)}/{service}"}


@dataclass(frozen=True)
class ProcessRecord:
    """Enough to recognise one process again, and nothing that a reused pid fakes."""

    pid: int
    created: float
    command: tuple[str, ...]

    @classmethod
    def of(cls, pid: int, command: Sequence[str]) -> ProcessRecord | None:
        """The record of the live process ``pid``, started with ``command``."""
        try:
            return cls(pid, psutil.Process(pid).create_time(), tuple(command))
        except psutil.Error:
            return None


def proven(record: ProcessRecord) -> psutil.Process | None:
    """The live process ``record`` describes, or None when the pid now is another's."""
    try:
        process = psutil.Process(record.pid)
        # Right after it starts, a process can show an empty command line for a few
        # milliseconds while exec completes; its pid and creation time still prove it.
        if (
            abs(process.create_time() - record.created) < 0.01
            and tuple(process.cmdline()) in (record.command, ())
            and process.status() != psutil.STATUS_ZOMBIE
        ):
            return process
    except psutil.Error:
        pass
    return None


def marked(root: Path) -> dict[str, list[psutil.Process]]:
    """Live processes carrying the project's marker, by service name."""
    prefix = f"{project_key(root)}/"
    found: dict[str, list[psutil.Process]] = {}
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            value = process.environ().get(MARKER, "")
            if value.startswith(prefix) and process.status() != psutil.STATUS_ZOMBIE:
                found.setdefault(value[len(prefix) :], []).append(process)
        except psutil.Error:  # gone, or another user's
            continue
    return found


def with_descendants(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes and everything they spawned, each once."""
    every: dict[int, psutil.Process] = {}
    for process in processes:
        every.setdefault(process.pid, process)
        try:
            for child in process.children(recursive=True):
                every.setdefault(child.pid, child)
        except psutil.Error:
            continue
    return list(every.values())


def end(processes: Sequence[psutil.Process], grace: float = 10.0) -> None:
    """SIGTERM the processes, wait up to ``grace`` s, then SIGKILL what is left.

    Takes :class:`psutil.Process` objects only: they refuse to signal a pid that a
    new process took over since they were created.
    """
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    alive = _wait_ended(processes, grace)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    _wait_ended(alive, 5)


def _wait_ended(
    processes: Sequence[psutil.Process], timeout: float
) -> list[psutil.Process]:
    """Wait until every process has exited; return those still running after
    ``timeout`` s. A zombie has exited: a supervisor reparented to an init that reaps
    late (some containers' and VMs' PID 1) stays one for seconds, or for good."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        alive = [process for process in processes if _running(process)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _running(process: psutil.Process) -> bool:
    try:  # is_running: false too when a new process took the pid over
        if not process.is_running():
            return False
        if process.status() != psutil.STATUS_ZOMBIE:
            return True
        process.wait(0)  # reaps it if it is ours; another's parent must
    except psutil.Error:  # gone (or no longer ours to see)
        pass
    return False


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As servers do: connections of an earlier run lingering in TIME_WAIT must not
        # count as "in use", only a socket that is bound or listening.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def port_holders(port: int) -> list[int]:
    """Pids listening on TCP ``port`` (those this user may see)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:  # macOS without root: ask each own process
        return sorted(
            process.pid for process in psutil.process_iter() if _listens(process, port)
        )
    return sorted(
        {
            c.pid
            for c in connections
            if c.pid is not None
            and c.status == psutil.CONN_LISTEN
            and c.laddr.port == port
        }
    )


def _listens(process: psutil.Process, port: int) -> bool:
    try:
        return any(
            c.status == psutil.CONN_LISTEN and c.laddr.port == port
            for c in process.net_connections(kind="tcp")
        )
    except psutil.Error:
        return False


def command_line(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline()) or "?"
    except psutil.Error:
        return "?"


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
