"""Linux process facts read from /proc: liveness, sessions, who holds a port."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), None if it is gone.

    Recorded with a pid so that a reused pid is not mistaken for our process.
    """
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


def session_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[3])


def is_running(pid: int, started: int | None) -> bool:
    """True when ``pid`` is alive and is the process that started at ``started``."""
    current = start_time(pid)
    return current is not None and (started is None or current == started)


def session_members(session: int) -> list[int]:
    """Live processes of a session (a service and everything it spawned)."""
    members = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and session_of(int(entry.name)) == session:
            if start_time(int(entry.name)) is not None:
                members.append(int(entry.name))
    return sorted(members)


def end_session(session: int, grace: float = 10.0) -> None:
    """SIGTERM every process of the session, wait up to ``grace`` s, then SIGKILL."""
    _signal_all(session_members(session), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not session_members(session):
            return
        time.sleep(0.1)
    _signal_all(session_members(session), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while session_members(session) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


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
    """Pids listening on TCP ``port`` (found through socket inodes in /proc)."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (PROC / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return []
    holders = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if inodes & set(links):
            holders.add(int(entry.name))
    return sorted(holders)


def command_line(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
