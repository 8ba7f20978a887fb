"""The docker backend next to the process backend: image builds, `pulpo up`, a first
deployment run and `pulpo down`, alternating the two backends round by round.

    python benchmarks/containers.py [--runs 3] [--base-image pulpo-test-base:bookworm]

Works on two temporary copies of examples/jobhunter with free ports (one per backend)
and removes what it made in Docker (only objects with the copy's project label).
Needs a Docker daemon and the base image (tests/docker/ensure_docker.sh makes one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from example_stack import PULPO, REPO, free_port


def copy_of_example(scratch: Path, backend: str, base_image: str) -> tuple[Path, dict]:
    project = scratch / f"bench_{backend}_{uuid.uuid4().hex[:6]}"
    shutil.copytree(
        REPO / "examples" / "jobhunter",
        project,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    env = {
        **os.environ,
        "PULPO_BACKEND": backend,
        "PULPO_BASE_IMAGE": base_image,
        "PULPO_DB_PORT": str(free_port()),
        "PULPO_PREFECT_PORT": str(free_port()),
        "PULPO_API_PORT": str(free_port()),
        "PULPO_UI_PORT": str(free_port()),
        "PREFECT_API_URL": "",
        "MONGODB_URL": "",
    }
    return project, env


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([PULPO, *args], cwd=cwd, env=env, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"pulpo {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def cold_build_seconds(project: Path) -> float:
    """The project's image built again without Docker's layer cache."""
    import docker

    from pulpo.containers.context import collect

    folder = project / "run_cache" / "docker"
    context = collect(project, folder / ".dockerignore")
    client = docker.from_env(timeout=600)
    started = time.perf_counter()
    image, _ = client.images.build(
        fileobj=context.tar(),
        custom_context=True,
        dockerfile="run_cache/docker/Dockerfile",
        nocache=True,
        network_mode="host",
        rm=True,
        forcerm=True,
        labels={"io.pulpo.project": key(project)},
    )
    seconds = time.perf_counter() - started
    client.images.remove(image.id, force=True)
    return seconds


def key(project: Path) -> str:
    from pulpo.services.processes import project_key

    return project_key(project)


def remove_docker_objects(project: Path) -> None:
    import docker

    client = docker.from_env(timeout=300)
    label = {"label": f"io.pulpo.project={key(project)}"}
    for container in client.containers.list(all=True, filters=label):
        container.remove(force=True)
    for network in client.networks.list(filters=label):
        network.remove()
    for volume in client.volumes.list(filters=label):
        volume.remove(force=True)
    for image in client.images.list(filters=label):
        client.images.remove(image.id, force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--base-image", default="pulpo-test-base:bookworm")
    options = parser.parse_args()
    run = ["prefect", "run", "storage_flow", "--deployment", "-p", "keywords=python"]
    figures: dict[tuple[str, str], list[float]] = {}

    def note(backend: str, what: str, seconds: float) -> None:
        figures.setdefault((backend, what), []).append(seconds)
        print(f"{backend:9} {what:40} {seconds:7.2f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="pulpo-bench-docker-") as scratch:
        copies = {
            backend: copy_of_example(Path(scratch), backend, options.base_image)
            for backend in ("processes", "docker")
        }
        try:
            project, env = copies["docker"]
            note(
                "docker",
                "build --image, new project",
                timed(["build", "--image"], project, env),
            )
            note(
                "docker",
                "build --image, unchanged",
                timed(["build", "--image"], project, env),
            )
            operations = project / "jobhunter" / "operations.py"
            operations.write_text(operations.read_text() + "\n# edited\n")
            note(
                "docker",
                "build --image, one file edited",
                timed(["build", "--image"], project, env),
            )
            note("docker", "image build, no layer cache", cold_build_seconds(project))
            for round_number in range(options.runs):
                for backend, (project, env) in copies.items():
                    which = "first start" if round_number == 0 else "existing data"
                    note(backend, f"up ({which})", timed(["up"], project, env))
                    note(backend, "first deployment run", timed(run, project, env))
                    note(backend, "deployment run again", timed(run, project, env))
                    note(backend, "down", timed(["down"], project, env))
        finally:
            for project, env in copies.values():
                subprocess.run(
                    [PULPO, "down"], cwd=project, env=env, capture_output=True
                )
            remove_docker_objects(copies["docker"][0])
    print()
    print("| what | processes | docker |")
    print("| --- | --- | --- |")
    whats = list(dict.fromkeys(what for _, what in figures))
    for what in whats:
        cells = []
        for backend in ("processes", "docker"):
            values = figures.get((backend, what))
            cells.append(
                ""
                if not values
                else f"{statistics.median(values):.2f}"
                + (f" (median of {len(values)})" if len(values) > 1 else "")
            )
        print(f"| {what} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
