"""``backend = "docker"`` with ``worker_type = "docker"``: the services as containers
of the project's image, and each deployment run a container the worker starts, driven
through the CLI against a real dockerd, as the process backend's tests do; and the
``docker-compose.yml`` of the same services, run by Docker Compose with no pulpo on
the host."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from pymongo import MongoClient

from pulpo.services.containers import DOCKER_SOCKET
from tests.conftest import PULPO
from tests.docker.conftest import BASE_IMAGE, DockerStack, flow_run_containers_seen

# Image builds and the wait for Docker itself (tests/docker/conftest.py) take minutes
# on a fresh machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
SERVICES = ["db", "prefect", "worker", "api", "ui"]
COMPOSE_SECRETS = {
    "PREFECT_AUTH_STRING": "pulpo:compose-test",
    "PULPO_API_KEYS": "compose-key",
}


@pytest.fixture(scope="module")
def stack(
    docker_client: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerStack]:
    made = DockerStack.copy_named(
        tmp_path_factory.mktemp("backend"), PULPO_WORKER_TYPE="docker"
    )
    try:
        yield made
    finally:
        made.pulpo("down", timeout=300)
        if (made.root / "compose-v1.yml").exists():
            compose(made, "down", "--volumes", "--timeout", "5")
        made.remove_everything(docker_client)


def compose_logs(stack: DockerStack, *services: str) -> str:
    return compose(stack, "logs", *services).stdout[-3000:]


def compose(stack: DockerStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Docker Compose v1 (what Debian packages), which predates the file's ``name:``
    key: the same project name goes on the command line instead."""
    if shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is missing: tests/docker/ensure_docker.sh installs it"
        )
    return subprocess.run(
        ["docker-compose", "-p", prefix(stack), "-f", "compose-v1.yml", *args],
        cwd=stack.root,
        env={**os.environ, **COMPOSE_SECRETS},
        capture_output=True,
        text=True,
        timeout=600,
    )


def prefix(stack: DockerStack) -> str:
    """The start of the names of the copy's containers, network and volumes."""
    return f"pulpo-{stack.root.name.replace('_', '-')}"


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

    containers = {c.name: c for c in stack.containers(docker_client)}
    assert sorted(containers) == sorted(f"{prefix(stack)}-{name}" for name in SERVICES)
    for name, container in containers.items():
        assert container.labels["io.pulpo.project"] == stack.key
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == (
            "unless-stopped"
        )
        for bindings in container.attrs["NetworkSettings"]["Ports"].values():
            # Published on loopback only.
            assert {b["HostIp"] for b in bindings or []} <= {"127.0.0.1"}, name
    for service in ("db", "prefect", "api", "ui"):
        assert healthy_in_docker(containers[f"{prefix(stack)}-{service}"]) == "healthy"
    volumes = {v.name for v in docker_client.volumes.list()}
    assert {f"{prefix(stack)}-db", f"{prefix(stack)}-prefect"} <= volumes

    deployed = stack.pulpo("prefect", "deploy", "--all")
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    with flow_run_containers_seen(docker_client, stack.key) as seen:
        run = stack.run_storage_flow()
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout)["storage.save"] == {
        "saved": 6,
        "total_in_database": 6,
    }
    assert len(set(saved_urls(stack))) == 6
    # The run was a container of the project's image, started by the Docker worker.
    image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()
    assert seen, "no flow-run container was seen while the run went on"
    assert {labels["image"] for labels in seen} == {image}

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
    assert stack.containers(docker_client) == []  # services and flow runs alike
    assert {f"{prefix(stack)}-db", f"{prefix(stack)}-prefect"} <= {
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
    deploy = services["deploy"]["command"]
    assert deploy[:5] == ["pulpo", "prefect", "deploy", "--all", "--job-variables"]
    runs = json.loads(deploy[5])  # what the file's Docker worker gives flow runs
    assert runs["image"] == image and runs["networks"] == [f"{prefix(stack)}_default"]
    assert runs["volumes"] == [f"{prefix(stack)}_results:/data/results"]
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
        if "healthcheck" in service:  # Docker waits as long for it as `pulpo up`
            grace = config["Healthcheck"]["StartPeriod"] // 1_000_000_000
            assert service["healthcheck"]["start_period"] == f"{grace}s", name
            assert grace >= 30, name
        published = {
            f"{b['HostIp']}:{b['HostPort']}:{inner.split('/')[0]}"
            for inner, bindings in container.attrs["NetworkSettings"]["Ports"].items()
            for b in bindings or []
        }
        assert set(service.get("ports", [])) == published, name
        mounts = {m["Destination"]: m["Type"] for m in container.attrs["Mounts"]}
        mounted = {d for d, kind in mounts.items() if kind == "volume"}
        mounted |= {DOCKER_SOCKET} & set(mounts)  # the Docker worker's
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


def test_compose_file_runs_the_services_and_a_run_completes_in_a_container(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("down", timeout=300).returncode == 0  # the same ports
    written = stack.pulpo("compose", timeout=900)
    assert written.returncode == 0, written.stderr[-3000:]
    text = (stack.root / "docker-compose.yml").read_text()
    assert text.startswith("# Generated by `pulpo compose`")
    assert "compose-key" not in text and "${PULPO_API_KEYS" in text  # no secrets
    lines = text.splitlines()
    (stack.root / "compose-v1.yml").write_text(
        "\n".join(line for line in lines if not line.startswith("name: ")) + "\n"
    )

    try:
        up = compose(stack, "up", "-d")
        assert up.returncode == 0, up.stderr[-3000:] + compose_logs(stack)
        deadline = time.monotonic() + 180
        with httpx.Client(
            base_url=f"http://127.0.0.1:{stack.api_port}",
            headers={"Authorization": f"Bearer {COMPOSE_SECRETS['PULPO_API_KEYS']}"},
            timeout=10,
        ) as api:
            while True:
                try:
                    if api.get("/health/live").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, compose_logs(stack)
                time.sleep(1)
            with flow_run_containers_seen(docker_client, stack.key) as seen:
                submitted = api.post(
                    "/api/v1/flows/storage_flow/runs",
                    json={"parameters": {"keywords": "python"}},
                )
                assert submitted.status_code == 202, submitted.text
                run_id = submitted.json()["run_id"]
                while (run := api.get(f"/api/v1/runs/{run_id}").json())["status"] in (
                    "pending",
                    "processing",
                ):
                    assert time.monotonic() < deadline + 120, run
                    time.sleep(1)
        assert run["status"] == "completed", compose_logs(stack, "worker")
        assert run["result"]["storage.save"] == {"saved": 6, "total_in_database": 6}
        image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()
        assert seen, "no flow-run container was seen while the run went on"
        assert {labels["image"] for labels in seen} == {image}
        # The file's own results volume, under the name the job variables give it.
        assert docker_client.volumes.get(f"{prefix(stack)}_results").attrs["Mountpoint"]

        ui = httpx.get(f"http://127.0.0.1:{stack.ui_port}/ui/live", timeout=10)
        assert ui.status_code == 200
    finally:  # a failed stack would hold the ports the next tests publish
        down = compose(stack, "down", "--volumes", "--timeout", "5")
    assert down.returncode == 0, down.stderr[-3000:]


def test_a_killed_container_shows_as_crashed_and_up_starts_it_again(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("up", timeout=900).returncode == 0
    api = docker_client.containers.get(f"{prefix(stack)}-api")
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
    start = prefix(stack)
    worker = docker_client.containers.get(f"{start}-worker").id
    restarted = stack.pulpo("worker", "restart", timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert docker_client.containers.get(f"{start}-worker").id != worker

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
    name = f"{prefix(stack)}-db"
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


def test_a_taken_port_is_named_and_two_ups_at_once_start_one_stack(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("down", timeout=300).returncode == 0
    with socket.socket() as taken:
        # As servers do: the UI's closed connections may linger in TIME_WAIT.
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", stack.ui_port))
        taken.listen()
        up = stack.pulpo("up", timeout=900)
        assert up.returncode == 1 and "Traceback" not in up.stderr
        [line] = [x for x in up.stderr.splitlines() if x.startswith("error:")]
        assert f"cannot start ui: port {stack.ui_port} is already in use" in line
        assert "PULPO_UI_PORT" in line
        running = {
            c.labels["io.pulpo.service"] for c in stack.containers(docker_client)
        }
        assert running == {"db", "prefect", "worker", "api"}  # ui was never started

    command = [PULPO, "up"]
    environment = {**os.environ, **stack.env}
    both = [
        subprocess.Popen(
            command, cwd=stack.root, env=environment, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    for up in both:
        _, said = up.communicate(timeout=900)
        assert up.returncode == 0, said[-3000:]
    services = [c.labels["io.pulpo.service"] for c in stack.containers(docker_client)]
    assert sorted(services) == sorted(SERVICES)  # one container each
    assert {row["state"] for row in stack.status().values()} == {"running"}
    assert stack.pulpo("down", timeout=300).returncode == 0


def test_clean_volumes_lists_them_asks_and_removes_only_the_projects(
    stack: DockerStack, docker_client: Any
) -> None:
    assert stack.pulpo("up", timeout=900).returncode == 0  # the volumes exist
    assert stack.pulpo("down", timeout=300).returncode == 0  # clean refuses otherwise
    start = prefix(stack)
    unlabelled = docker_client.volumes.create(f"{start}-other")
    try:
        refused = stack.pulpo("clean", "--all", "--volumes")
        assert refused.returncode == 1
        assert f"Docker volume {start}-db" in refused.stdout
        assert f"Docker volume {start}-other" not in refused.stdout
        assert "nothing deleted" in refused.stderr
        assert f"{start}-db" in {v.name for v in docker_client.volumes.list()}

        # A container pulpo did not start (a Compose stack's, say) still mounts one.
        image = (stack.root / "run_cache" / "docker" / "image").read_text().strip()
        user = docker_client.containers.create(
            image, "true", name=f"{start}-user", volumes={f"{start}-db": {"bind": "/x"}}
        )
        try:
            in_use = stack.pulpo("clean", "--all", "--volumes", "--yes")
        finally:
            user.remove(force=True)
        assert in_use.returncode == 1 and "Traceback" not in in_use.stderr
        [line] = [x for x in in_use.stderr.splitlines() if x.startswith("error:")]
        assert f"Docker volume {start}-db is used by container {start}-user" in line
        assert (stack.root / "run_cache").exists()  # nothing deleted
        assert f"{start}-db" in {v.name for v in docker_client.volumes.list()}

        removed = stack.pulpo("clean", "--all", "--volumes", "--yes")
        assert removed.returncode == 0, removed.stderr
        assert f"removed Docker volume {start}-db" in removed.stdout
        left = {v.name for v in docker_client.volumes.list()}
        assert f"{start}-db" not in left and f"{start}-prefect" not in left
        assert f"{start}-other" in left  # not the project's: kept
    finally:
        unlabelled.remove(force=True)
