"""examples/topics end to end: the CLI run, the API under `pulpo up`, and the
example's own tests (written with pulpo's test kit) run by pytest as its users do."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, run_pulpo
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

TOPIC = [
    "--param",
    "topic_name=Vector databases",
    "--param",
    "context=Storing embeddings for similarity search across tenants",
]


@pytest.fixture(scope="module")
def topics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A copy of the example with every service up (own ports and database)."""
    root = tmp_path_factory.mktemp("topics") / "topics"
    shutil.copytree(
        REPO / "examples" / "topics",
        root,
        ignore=shutil.ignore_patterns("run_cache", ".pulpo", "__pycache__"),
    )
    stack = Stack(root)
    stack.env["PULPO_DATABASE"] = "topics_e2e"
    up = stack.pulpo("up")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        yield stack
    finally:
        stack.pulpo("down")


def run_result(stack: Stack, *params: str) -> dict[str, Any]:
    result = stack.pulpo("prefect", "run", "topics_flow", *TOPIC, *params)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def test_the_cli_runs_the_stages_and_storing_again_updates_the_record(
    topics: Stack,
) -> None:
    first = run_result(topics, "--param", "tenant=cli")
    again = topics.pulpo(
        "prefect", "run", "topics_flow", *TOPIC, "--param", "tenant=cli"
    )
    assert again.returncode == 0, again.stderr[-3000:]
    second = json.loads(again.stdout)

    # The same request again: the model's answer comes from the cache.
    assert "operation 'topics.enrich': result from the cache" in again.stderr
    assert second["topics.enrich"] == first["topics.enrich"]

    assert first["topics.finish"]["dimensions"] == [
        "embeddings",
        "similarity",
        "storing",
    ]
    assert first["topics.persist"]["created"] is True
    assert second["topics.persist"]["created"] is False
    assert second["topics.persist"]["topic_id"] == first["topics.persist"]["topic_id"]
    assert second["topics.persist"]["topics_of_tenant"] == 1


def test_a_transient_llm_error_is_retried_in_a_cli_run(topics: Stack) -> None:
    env = {**topics.env, "PULPO_RESOURCE_LLM_FLAKY_CALLS": "2"}
    flaky = run_pulpo(
        "prefect",
        "run",
        "topics_flow",
        *TOPIC,
        "--param",
        "tenant=flaky",
        cwd=topics.root,
        env=env,
    )
    assert flaky.returncode == 0, flaky.stderr[-3000:]
    assert (
        len(re.findall(r"TransientLLMError\('fake-topics-1 is busy", flaky.stderr)) == 2
    )
    assert json.loads(flaky.stdout)["topics.persist"]["created"] is True


def test_the_api_runs_the_flow_without_resources_in_its_schema(topics: Stack) -> None:
    key = topics.pulpo("api", "key").stdout.strip()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{topics.api_port}",
        headers={"X-API-Key": key},
        timeout=30,
    ) as client:
        schema = json.dumps(client.get("/openapi.json").json())
        response = client.post(
            "/api/v1/flows/topics_flow/runs",
            json={
                "parameters": {
                    "topic_name": "Graph databases",
                    "context": "Traversing relationships between connected entities",
                    "tenant": "api",
                }
            },
        )
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = client.get(f"/api/v1/runs/{run_id}").json()
            if run["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.5)

    assert run["status"] == "completed", run
    assert run["result"]["topics.finish"]["key"] == "api/graph-databases"
    assert run["result"]["topics.persist"]["created"] is True
    assert "flaky_calls" not in schema and "FakeLLM" not in schema


def test_the_example_s_own_test_kit_tests_pass(topics: Stack) -> None:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PULPO_"))
    }
    completed = subprocess.run(
        # pulpo's plugin only, as in a user's environment: pulpo's dev dependencies
        # (schemathesis, hypothesis) bring plugins whose late imports crashed this
        # run at exit (CPython 3.11 "AST constructor recursion depth mismatch").
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "pulpo",
            "tests",
        ],  # fmt: skip
        cwd=topics.root,
        env={
            **environment,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
            "MONGODB_URL": f"mongodb://127.0.0.1:{topics.db_port}",
        },
        capture_output=True,
        text=True,
        timeout=400,
    )

    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-2000:]
    )
    assert re.search(r"\b6 passed\b", completed.stdout), completed.stdout[-2000:]
