"""`pulpo up/status/deploy/run/logs/down` with real processes on loopback."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from pymongo import MongoClient

from tests.cli.test_errors import assert_user_error
from tests.conftest import interruptible, run_pulpo
from tests.e2e.conftest import Stack, free_port, project_processes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack.copy_of_example(tmp_path_factory.mktemp("stack"))
    yield stack
    stack.pulpo("down")


@pytest.fixture(autouse=True)
def nothing_left_running(stack: Stack) -> Iterator[None]:
    """Each test starts with the stack down, whatever the one before left."""
    yield
    stack.pulpo("down")


@pytest.mark.timeout(600)  # ten commands against the whole stack, on a loaded machine
def test_up_deploy_run_through_the_worker_and_down(stack: Stack) -> None:
    up = stack.pulpo("up")
    assert up.returncode == 0, up.stderr[-3000:]
    rows = stack.status()
    assert [(n, r["state"], r["healthy"]) for n, r in rows.items()] == [
        ("db", "running", True),
        ("prefect", "running", True),
        ("worker", "running", True),
        ("api", "running", True),
        ("ui", "running", True),
    ]
    assert rows["prefect"]["address"] == f"http://127.0.0.1:{stack.prefect_port}"
    # The pid is the server's own, not its supervisor's: what `ps` and `top` show.
    server = psutil.Process(rows["prefect"]["pid"]).cmdline()
    assert "server" in server and "pulpo.services.supervise" not in server

    again = stack.pulpo("up")  # already up: nothing new starts
    assert again.returncode == 0
    assert {n: r["pid"] for n, r in stack.status().items()} == {
        n: r["pid"] for n, r in rows.items()
    }

    deployed = stack.pulpo("prefect", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert "deployed storage_flow/pulpo" in deployed.stdout

    for _ in range(2):  # idempotent: the second run adds nothing
        run = stack.pulpo(
            "prefect", "run", "storage_flow", "--deployment", "-p", "keywords=python"
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert json.loads(run.stdout)["storage.save"] == {
            "saved": 6,
            "total_in_database": 6,
        }

    client: MongoClient = MongoClient(
        f"mongodb://127.0.0.1:{stack.db_port}", serverSelectionTimeoutMS=3000
    )
    try:
        urls = [d["url"] for d in client["jobhunter_test"]["job_postings"].find()]
    finally:
        client.close()
    assert len(urls) == len(set(urls)) == 6

    direct = stack.pulpo("prefect", "run", "scraping_flow", "-p", "limit=1")
    assert direct.returncode == 0, direct.stderr[-3000:]
    assert "Starting temporary server" not in direct.stderr
    assert (
        f"http://127.0.0.1:{stack.prefect_port}" in direct.stderr
    )  # runs show in its UI

    logs = stack.pulpo("logs", "worker", "-n", "20")
    assert logs.returncode == 0 and "storage" in logs.stdout

    down = stack.pulpo("down")
    assert (
        down.returncode == 0 and "stopped ui, api, worker, prefect, db" in down.stdout
    )
    assert {r["state"] for r in stack.status().values()} == {"stopped"}
    assert project_processes(stack.markers()) == []


def test_a_killed_service_shows_as_crashed_and_comes_back(stack: Stack) -> None:
    assert stack.pulpo("db", "start").returncode == 0
    assert_user_error(stack.pulpo("clean", "--all"), "db still running", "pulpo down")
    assert (stack.root / ".pulpo" / "db").is_dir()
    pid = stack.status()["db"]["pid"]
    os.killpg(os.getpgid(pid), signal.SIGKILL)  # the server and its supervisor
    deadline = time.monotonic() + 10
    while stack.status()["db"]["state"] != "crashed" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.status()["db"]["state"] == "crashed"
    assert stack.pulpo("db", "start").returncode == 0
    row = stack.status()["db"]
    assert row["state"] == "running" and row["pid"] != pid
    assert stack.pulpo("db", "stop").returncode == 0
    assert project_processes(stack.markers()) == []


def test_a_port_in_use_is_reported_with_its_holder(stack: Stack) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", stack.db_port))
        blocker.listen()
        result = stack.pulpo("db", "start")
    assert_user_error(
        result,
        f"port {stack.db_port} is already in use",
        f"pid {os.getpid()}",
        "PULPO_DB_PORT",
    )
    assert stack.status()["db"]["state"] == "stopped"


def test_concurrent_ups_never_duplicate_a_service(stack: Stack) -> None:
    ups = [
        subprocess.Popen(
            [str(Path(sys.executable).with_name("pulpo")), "up"],
            cwd=stack.root,
            env={**os.environ, "NO_COLOR": "1", **stack.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    codes = [p.wait(timeout=300) for p in ups]
    assert codes == [0, 0], [p.stderr.read() for p in ups if p.stderr]
    assert {r["state"] for r in stack.status().values()} == {"running"}
    live = project_processes(stack.markers())
    servers = [p for p in live if "supervise" not in p]
    assert len([p for p in servers if "nx_27017" in p]) == 1, servers
    assert len([p for p in servers if "server start" in p]) == 1, servers
    assert len([p for p in servers if "worker start" in p]) == 1, servers
    assert len([p for p in servers if "run_cache.api.app" in p]) == 1, servers
    assert len([p for p in servers if "pulpo.ui.server" in p]) == 1, servers
    assert stack.pulpo("down").returncode == 0
    assert project_processes(stack.markers()) == []


def test_an_external_mongodb_is_used_instead_of_starting_one(
    stack: Stack, tmp_path: Path, server_env: dict[str, str]
) -> None:
    port = free_port()
    external = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nx_27017.nx_27017",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--pid-file",
            str(tmp_path / "pid"),
            "--log-file",
            os.devnull,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"mongodb://127.0.0.1:{port}"
    env = {**stack.env, "MONGODB_URL": url}
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        started = run_pulpo("db", "start", cwd=stack.root, env=env)
        assert started.returncode == 0, started.stderr
        assert "external" in started.stdout
        assert project_processes([f"-p {stack.db_port}"]) == []
        init = run_pulpo("db", "init", cwd=stack.root, env=env)
        assert init.returncode == 0 and "job_postings" in init.stdout, init.stderr
        run = run_pulpo(
            "prefect",
            "run",
            "storage_flow",
            "-p",
            "limit=2",
            cwd=stack.root,
            env={**env, **server_env},
        )
        assert run.returncode == 0, run.stderr[-3000:]
        client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=3000)
        try:
            collection = client["jobhunter_test"]["job_postings"]
            assert collection.count_documents({}) == 3
            assert any(
                index.get("unique") for index in collection.index_information().values()
            )
        finally:
            client.close()
    finally:
        external.terminate()
        try:
            external.wait(timeout=10)
        except subprocess.TimeoutExpired:
            external.kill()
            external.wait()


def test_per_service_verbs(stack: Stack) -> None:
    started = stack.pulpo("worker", "start")  # brings up db and prefect first
    assert started.returncode == 0, started.stderr[-2000:]
    states = {n: r["state"] for n, r in stack.status().items()}
    assert states == {
        "db": "running",
        "prefect": "running",
        "worker": "running",
        "api": "stopped",
        "ui": "stopped",
    }
    worker_pid = stack.status()["worker"]["pid"]
    restarted = stack.pulpo("worker", "restart")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert stack.status()["worker"]["pid"] != worker_pid
    assert (
        "pulpo: starting prefect" in stack.pulpo("prefect", "logs", "-n", "200").stdout
    )
    follow = subprocess.Popen(
        [str(Path(sys.executable).with_name("pulpo")), "logs", "db", "-f", "-n", "3"],
        cwd=stack.root,
        env={**os.environ, **stack.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=interruptible,
    )
    assert follow.stdout is not None
    # The command's start is slow on a loaded machine: wait for its first line.
    ready, _, _ = select.select([follow.stdout], [], [], 60)
    follow.send_signal(signal.SIGINT)
    output, _ = follow.communicate(timeout=10)
    assert ready and output.strip(), "logs -f printed nothing"
    assert "stopped prefect" in stack.pulpo("prefect", "stop").stdout
    assert stack.status()["prefect"]["state"] == "stopped"
    assert stack.pulpo("down").returncode == 0
    assert project_processes(stack.markers()) == []


def test_a_service_started_with_other_settings_is_named(stack: Stack) -> None:
    assert stack.pulpo("db", "start").returncode == 0
    elsewhere = {**stack.env, "PULPO_DB_PORT": str(free_port())}
    result = run_pulpo("worker", "start", cwd=stack.root, env=elsewhere)
    assert_user_error(
        result,
        "db is running (pid",
        f"but does not answer at mongodb://127.0.0.1:{elsewhere['PULPO_DB_PORT']}",
        "pulpo db restart",
    )
    assert stack.status()["worker"]["state"] == "stopped"
    assert stack.pulpo("down").returncode == 0
    assert project_processes(stack.markers()) == []
