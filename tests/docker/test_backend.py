"""``backend = "docker"``: the services as containers of the project's image, driven
through the CLI against a real dockerd, as the process backend's tests do."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from pymongo import MongoClient

from tests.conftest import PULPO
from tests.docker.conftest import BASE_IMAGE, DockerStack

# Image builds and the wait for Docker itself (tests/docker/conftest.py) take minutes
# on a fresh machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
SERVICES = ["db", "prefect", "worker", "api", "ui"]


@pytest.fixture(scope="module")
def stack(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerStack]:
    made = DockerStack.copy_named(tmp_path_factory.mktemp("backend"))
    try:
        yield made
    finally:
        made.pulpo("down", timeout=300)
        made.remove_everything(docker_client)


def saved_urls(stack: DockerStack) -> list[str]:
    client: MongoClient = MongoClient(
        f"mongodb://127.0.0.1:{stack.db_port}", serverSelectionTimeoutMS=5000
    )
    try:
        return [d["url"] for d in client["jobhunter_test"]["job_postings"].find()]
    finally:
        client.close()


def healthy_in_docker(container: Any, seconds: float = 90) -> str:
    """Docker's own health state of ``container`` once it leaves ``starting``."""
    deadline = time.monotonic() + seconds
    while True:
        container.reload()
        health = container.attrs["State"].get("Health", {}).get("Status", "none")
        if health != "starting" or time.monotonic() > deadline:
            return str(health)
        time.sleep(1)


def test_up_runs_through_the_worker_and_the_api_and_data_outlives_down(
    stack: DockerStack, docker_client: Any
) -> None:
    up = stack.pulpo("up", timeout=900)
    assert up.returncode == 0, up.stderr[-3000:]
    rows = stack.status()
    assert [(n, r["state"], r["healthy"]) for n, r in rows.items()] == [
        (name, "running", True) for name in SERVICES
    ]
    assert rows["prefect"]["address"] == f"http://127.0.0.1:{stack.prefect_port}"
    assert rows["api"]["address"] == f"http://127.0.0.1:{stack.api_port}"

    prefix = f"pulpo-{stack.root.name.replace('_', '-')}"
    containers = {c.name: c for c in stack.containers(docker_client)}
    assert sorted(containers) == sorted(f"{prefix}-{name}" for name in SERVICES)
    for name, container in containers.items():
        assert container.labels["io.pulpo.project"] == stack.key
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == (
            "unless-stopped"
        )
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            # Published on loopback only.
            assert {b["HostIp"] for b in bindings or []} <= {"127.0.0.1"}, name
    for service in ("db", "prefect", "api", "ui"):
        assert healthy_in_docker(containers[f"{prefix}-{service}"]) == "healthy"
    volumes = {v.name for v in docker_client.volumes.list()}
    assert {f"{prefix}-db", f"{prefix}-prefect"} <= volumes

    deployed = stack.pulpo("prefect", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    run = stack.run_storage_flow()
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["storage.save"] == {
        "saved": 6,
        "total_in_database": 6,
    }
    assert len(set(saved_urls(stack))) == 6

    key = stack.pulpo("api", "key").stdout.split()[0]
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.api_port}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as api:
        submitted = api.post(
            "/api/v1/flows/scraping_flow/runs", json={"parameters": {"limit": 1}}
        )
        assert submitted.status_code == 202, submitted.text
        run_id = submitted.json()["run_id"]
        deadline = time.monotonic() + 300
        while (status := api.get(f"/api/v1/runs/{run_id}").json())["status"] in (
            "pending",
            "processing",
        ):
            assert time.monotonic() < deadline, status
            time.sleep(1)
        assert status["status"] == "completed", status
        assert "scraping.linkedin.fetch" in status["result"]

    logs = stack.pulpo("logs", "worker", "-n", "200")
    assert logs.returncode == 0 and "storage_flow" in logs.stdout

    down = stack.pulpo("down", timeout=300)
    assert down.returncode == 0, down.stderr[-3000:]
    assert "stopped ui, api, worker, prefect, db" in down.stdout
    assert stack.containers(docker_client) == []
    assert {f"{prefix}-db", f"{prefix}-prefect"} <= {
        v.name for v in docker_client.volumes.list()
    }  # down keeps the data

    again = stack.pulpo("up", timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(set(saved_urls(stack))) == 6  # the documents are still there


def test_compose_describes_the_containers_the_backend_runs(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("up", timeout=900).returncode == 0
    composed = stack.pulpo("compose", timeout=600)
    assert composed.returncode == 0, composed.stderr[-3000:]
    image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()
    assert composed.stdout.strip().endswith(f"(image {image})")
    described = yaml.safe_load((stack.root / "docker-compose.yml").read_text())
    services = described["services"]
    assert list(services) == ["db", "prefect", "worker", "deploy", "api", "ui"]
    assert services["deploy"]["command"] == ["pulpo", "prefect", "deploy", "--all"]
    assert services["api"]["depends_on"]["deploy"] == {
        "condition": "service_completed_successfully"
    }
    for container in stack.containers(docker_client):
        name = container.labels["io.pulpo.service"]
        service, config = services[name], container.attrs["Config"]
        assert service["image"] == image == config["Image"], name
        assert service["command"] == config["Cmd"], name
        assert service["restart"] == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test") == (
            config.get("Healthcheck") or {}
        ).get("Test"), name
        published = {
            f"{b['HostIp']}:{b['HostPort']}:{inner.split('/')[0]}"
            for inner, bindings in container.attrs["NetworkSettings"]["Ports"].items()
            for b in bindings or []
        }
        assert set(service.get("ports", [])) == published, name
        mounted = {
            m["Destination"] for m in container.attrs["Mounts"] if m["Type"] == "volume"
        }
        assert {v.split(":")[1] for v in service.get("volumes", [])} - {
            "/data/results"  # a volume there; the backend mounts .pulpo/results
        } == mounted, name
        environment = dict(item.split("=", 1) for item in config["Env"])
        for variable in ("PREFECT_API_URL", "MONGODB_URL", "PULPO_DATABASE"):
            assert service.get("environment", {}).get(variable) == environment.get(
                variable
            ), (name, variable)
        for secret in ("PREFECT_API_AUTH_STRING", "PULPO_API_KEYS"):
            value = service.get("environment", {}).get(secret)
            assert value is None or value.startswith("${"), (name, secret)

    foreign = stack.root / "other.yml"
    foreign.write_text("x: 1\n")
    refused = stack.pulpo("compose", "-o", str(foreign), timeout=600)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "not generated by pulpo" in refused.stderr
    assert foreign.read_text() == "x: 1\n"


def test_a_killed_container_shows_as_crashed_and_up_starts_it_again(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("up", timeout=900).returncode == 0
    api = docker_client.containers.get(f"pulpo-{stack.root.name.replace('_', '-')}-api")
    api.kill()
    status = stack.pulpo("status", "--json")
    assert status.returncode == 1  # see `pulpo status --help`
    row = {r["name"]: r for r in json.loads(status.stdout)}["api"]
    assert row["state"] == "crashed"
    assert row["detail"].startswith("exit code 137; last lines: ")

    up = stack.pulpo("up", timeout=900)
    assert up.returncode == 0, up.stderr[-3000:]
    assert stack.status()["api"]["state"] == "running"


def test_per_service_verbs_db_init_and_following_logs_act_on_containers(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("up", timeout=900).returncode == 0
    prefix = f"pulpo-{stack.root.name.replace('_', '-')}"
    worker = docker_client.containers.get(f"{prefix}-worker").id
    restarted = stack.pulpo("worker", "restart", timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert docker_client.containers.get(f"{prefix}-worker").id != worker

    stopped = stack.pulpo("api", "stop", timeout=300)
    assert stopped.returncode == 0 and "stopped api" in stopped.stdout
    status = stack.pulpo("status")
    assert status.returncode == 3  # some stopped
    assert stack.status()["api"]["state"] == "stopped"
    started = stack.pulpo("api", "start", timeout=300)
    assert started.returncode == 0, started.stderr[-3000:]
    assert stack.status()["api"]["state"] == "running"

    initialised = stack.pulpo("db", "init")
    assert initialised.returncode == 0, initialised.stderr[-3000:]
    assert "job_postings" in initialised.stdout

    follower = subprocess.Popen(
        [PULPO, "logs", "prefect", "-f", "-n", "5"],
        cwd=stack.root,
        env={**os.environ, **stack.env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        # The end of the log (Prefect's banner has blank lines), then it keeps going.
        lines = [follower.stdout.readline() for _ in range(5)]
        assert any(line.strip() for line in lines), lines
        time.sleep(1)
        assert follower.poll() is None
    finally:
        follower.terminate()
        follower.wait(timeout=10)
        if follower.stdout is not None:
            follower.stdout.close()


def test_a_container_of_the_same_name_that_is_not_the_projects_is_left_alone(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("down", timeout=300).returncode == 0
    name = f"pulpo-{stack.root.name.replace('_', '-')}-db"
    stranger = docker_client.containers.run(
        BASE_IMAGE, ["sleep", "600"], name=name, detach=True, network_mode="none"
    )
    try:
        up = stack.pulpo("up", timeout=900)
        assert up.returncode == 1 and "Traceback" not in up.stderr
        [line] = [x for x in up.stderr.splitlines() if x.startswith("error:")]
        assert name in line and "leaves it alone" in line
        stranger.reload()
        assert stranger.status == "running"  # not stopped, not removed
    finally:
        stranger.remove(force=True)
    assert stack.pulpo("down", timeout=300).returncode == 0


def test_clean_volumes_lists_them_asks_and_removes_only_the_projects(
    stack: DockerStack, docker_client: Any
) -> None:
    prefix = f"pulpo-{stack.root.name.replace('_', '-')}"
    unlabelled = docker_client.volumes.create(f"{prefix}-other")
    try:
        refused = stack.pulpo("clean", "--all", "--volumes")
        assert refused.returncode == 1
        assert f"Docker volume {prefix}-db" in refused.stdout
        assert f"Docker volume {prefix}-other" not in refused.stdout
        assert "nothing deleted" in refused.stderr
        assert f"{prefix}-db" in {v.name for v in docker_client.volumes.list()}

        removed = stack.pulpo("clean", "--all", "--volumes", "--yes")
        assert removed.returncode == 0, removed.stderr
        assert f"removed Docker volume {prefix}-db" in removed.stdout
        left = {v.name for v in docker_client.volumes.list()}
        assert f"{prefix}-db" not in left and f"{prefix}-prefect" not in left
        assert f"{prefix}-other" in left  # not the project's: kept
    finally:
        unlabelled.remove(force=True)
