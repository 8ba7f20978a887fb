"""One real Prefect server for the whole session; e2e tests point the CLI at it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_pulpo

PREFECT = str(Path(sys.executable).with_name("prefect"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_processes(markers: list[str]) -> list[str]:
    """Command lines of live processes that mention any of ``markers``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(marker in cmdline for marker in markers):
            found.append(f"{entry.name}: {cmdline}")
    return found


class Stack:
    """A copy of the example with its own ports, driven through the CLI."""

    @classmethod
    def copy_of_example(cls, folder: Path) -> Stack:
        """The example copied into ``folder`` (without generated files or data)."""
        root = folder / "jobhunter"
        shutil.copytree(
            REPO / "examples" / "jobhunter",
            root,
            ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
        )
        return cls(root)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db_port, self.prefect_port = free_port(), free_port()
        self.api_port, self.ui_port = free_port(), free_port()
        self.env = {
            "PULPO_DB_PORT": str(self.db_port),
            "PULPO_PREFECT_PORT": str(self.prefect_port),
            "PULPO_API_PORT": str(self.api_port),
            "PULPO_UI_PORT": str(self.ui_port),
            "PULPO_API_KEYS": "",
            "PULPO_WORK_POOL": f"pool-{self.prefect_port}",
            "PULPO_DATABASE": "jobhunter_test",
            "PREFECT_API_URL": "",
            "MONGODB_URL": "",
        }

    def pulpo(self, *args: str, timeout: float = 300):  # noqa: ANN201
        return run_pulpo(*args, cwd=self.root, env=self.env, timeout=timeout)

    def status(self) -> dict[str, dict]:
        result = self.pulpo("status", "--json")
        assert result.returncode in (0, 1, 3), (
            result.stderr
        )  # see `pulpo status --help`
        return {row["name"]: row for row in json.loads(result.stdout)}

    def markers(self) -> list[str]:
        return [
            str(self.root / "run_cache"),
            f"--port {self.prefect_port}",
            f"-p {self.db_port}",
            f"--pool pool-{self.prefect_port}",
            f"--port {self.api_port}",
            f"--port {self.ui_port}",
        ]


def copy_of_fixture(name: str, folder: Path) -> Path:
    """``tests/fixtures/<name>`` copied into ``folder`` (without generated files)."""
    project = folder / name
    shutil.copytree(
        REPO / "tests" / "fixtures" / name,
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    return project


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"prefect server did not start:\n{(home / 'server.log').read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def server_env(prefect_api: str) -> dict[str, str]:
    return {"PREFECT_API_URL": prefect_api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
