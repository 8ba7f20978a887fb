"""Process identity without the CLI: pulpo signals only processes it can prove it
started, and finds its own by their marker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pulpo.services import processes
from pulpo.services.processes import ProcessRecord

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(
        SLEEPER, env={**os.environ, **processes.marker(tmp_path, "db")}
    )
    yield child
    child.kill()
    child.wait()


def test_a_record_proves_only_the_process_it_was_made_for(
    sleeper: subprocess.Popen[bytes],
) -> None:
    record = ProcessRecord.of(sleeper.pid, SLEEPER)
    assert record is not None
    assert processes.proven(record) is not None
    reused_pid = ProcessRecord(sleeper.pid, record.created - 5, record.command)
    assert processes.proven(reused_pid) is None  # same pid, started at another time
    other_command = ProcessRecord(sleeper.pid, record.created, ("python", "other"))
    assert processes.proven(other_command) is None


def test_a_process_is_proven_right_after_it_starts() -> None:
    """`pulpo up` checks its service at once; a command line still empty while exec
    completes made a healthy service read as 'exited while starting'."""
    children = []
    try:
        for _ in range(40):
            child = subprocess.Popen(SLEEPER)
            children.append(child)
            record = ProcessRecord.of(child.pid, SLEEPER)
            assert record is not None and processes.proven(record) is not None
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_a_dead_process_is_not_proven(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    record = ProcessRecord.of(child.pid, [sys.executable, "-c", "pass"])
    child.wait()
    assert record is None or processes.proven(record) is None


def test_marked_processes_are_found_without_records(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    found = processes.marked(tmp_path)
    assert [p.pid for p in found["db"]] == [sleeper.pid]
    assert processes.marked(tmp_path / "elsewhere") == {}


def test_end_stops_a_process_that_ignores_sigterm() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
    process = psutil.Process(stubborn.pid)
    started = time.monotonic()
    processes.end([process], grace=0.5)
    elapsed = time.monotonic() - started
    assert not process.is_running()
    assert 0.5 <= elapsed < 5  # SIGTERM was ignored; SIGKILL after the grace period
    stubborn.wait(5)
    stubborn.stdout.close()


def test_end_counts_a_process_that_exited_unreaped_as_ended() -> None:
    # A supervisor reparented to an init that reaps late stays a zombie: `pulpo down`
    # must not wait out the grace period (nor SIGKILL) for it.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; child = subprocess.Popen(['sleep', '60']); "
            "print(child.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert parent.stdout is not None
        child = psutil.Process(int(parent.stdout.readline()))
        started = time.monotonic()
        processes.end([child], grace=30)
        elapsed = time.monotonic() - started
        assert child.status() == psutil.STATUS_ZOMBIE  # its parent never reaps it
        assert elapsed < 10
    finally:
        parent.kill()
        parent.wait(5)
        if parent.stdout is not None:
            parent.stdout.close()


def test_the_holder_of_a_port_is_named() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not processes.port_is_free("127.0.0.1", port)
        assert os.getpid() in processes.port_holders(port)
    assert processes.port_is_free("127.0.0.1", port)
