"""Container commands without a Docker to talk to, and container settings that are
wrong: one `error:` line naming the culprit and the fix, and nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_errors import GOOD, assert_user_error
from tests.conftest import MakeProject, run_pulpo

NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture
def built(make_project: MakeProject) -> Path:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root).returncode == 0
    return root


def generated(root: Path) -> dict[str, bytes]:
    folder = root / "run_cache" / "orchestration"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize(
    "command",
    [
        ("build", "--image"),
        ("up", "--backend", "docker"),
        ("compose",),
        ("clean", "--volumes", "--yes"),
    ],
)
def test_a_docker_daemon_that_does_not_answer_is_named_with_how_to_start_it(
    built: Path, command: tuple[str, ...]
) -> None:
    before = generated(built)
    result = run_pulpo(*command, cwd=built, env=NO_DOCKER)
    assert_user_error(result, "Docker daemon does not answer", "dockerd", "DOCKER_HOST")
    assert generated(built) == before  # the earlier build is intact


def test_a_build_image_without_docker_still_leaves_a_readable_dockerfile(
    built: Path,
) -> None:
    result = run_pulpo(
        "build", "--image", cwd=built, env={**NO_DOCKER, "PULPO_BASE_IMAGE": "x:1"}
    )
    assert result.returncode == 1
    dockerfile = (built / "run_cache" / "docker" / "Dockerfile").read_text()
    assert "FROM x:1 AS dependencies" in dockerfile
    assert ".pulpo" in (built / "run_cache" / "docker" / ".dockerignore").read_text()


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ('backend = "kubernetes"', "backend must be one of 'processes', 'docker'"),
        ('worker_type = "k8s"', "worker_type must be one of 'process', 'docker'"),
    ],
)
def test_container_settings_are_checked(
    make_project: MakeProject, setting: str, fragment: str
) -> None:
    root = make_project(
        ops=GOOD,
        pyproject=f'[tool.pulpo]\nmodules = ["app.ops"]\n{setting}\n',
    )
    assert_user_error(run_pulpo("build", cwd=root), "pyproject.toml", fragment)


def test_an_unknown_backend_on_the_command_line(built: Path) -> None:
    assert_user_error(
        run_pulpo("up", "--backend", "vms", cwd=built),
        "--backend must be 'processes' or 'docker'",
    )


@pytest.mark.parametrize(
    ("given", "said"),
    [("[1", "--job-variables is not JSON"), ("[1]", "must be a JSON object")],
)
def test_job_variables_that_are_not_a_json_object(
    built: Path, given: str, said: str
) -> None:
    result = run_pulpo(
        "prefect", "deploy", "--all", "--job-variables", given, cwd=built
    )
    assert_user_error(result, said, '{"image": "my-image:1"}')
