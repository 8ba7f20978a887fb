"""Service commands that need no running service: status, bad names, bad settings."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_errors import GOOD, assert_user_error
from tests.conftest import MakeProject, run_pulpo

NO_SERVICES = {"PREFECT_API_URL": "", "MONGODB_URL": ""}


def test_status_lists_every_service_as_stopped(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    result = run_pulpo("status", "--json", cwd=root, env=NO_SERVICES)
    rows = json.loads(result.stdout)
    assert result.returncode == 3  # stopped, not broken
    assert [(r["name"], r["state"]) for r in rows] == [
        ("db", "stopped"),
        ("prefect", "stopped"),
        ("worker", "stopped"),
        ("api", "stopped"),
        ("ui", "stopped"),
    ]
    assert rows[1]["address"] == "http://127.0.0.1:47200"
    assert rows[3]["address"] == "http://127.0.0.1:47800"
    assert rows[4]["address"] == "http://127.0.0.1:47300"
    table = run_pulpo("status", cwd=root, env=NO_SERVICES).stdout
    assert table.splitlines()[0].split() == [
        "SERVICE",
        "STATE",
        "PID",
        "ADDRESS",
        "UPTIME",
        "HEALTH",
    ]


def test_ports_come_from_the_config_and_the_environment_wins(
    make_project: MakeProject,
) -> None:
    config = (
        '[tool.pulpo]\nmodules = ["app.ops"]\nprefect_port = 45001\ndb_port = 45002\n'
    )
    root = make_project(ops=GOOD, pyproject=config)
    rows = json.loads(run_pulpo("status", "--json", cwd=root, env=NO_SERVICES).stdout)
    assert rows[0]["address"] == "mongodb://127.0.0.1:45002"
    assert rows[1]["address"] == "http://127.0.0.1:45001"
    env = {**NO_SERVICES, "PULPO_PREFECT_PORT": "45003"}
    rows = json.loads(run_pulpo("status", "--json", cwd=root, env=env).stdout)
    assert rows[1]["address"] == "http://127.0.0.1:45003"


def test_a_bad_port_is_a_config_error(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    result = run_pulpo("up", cwd=root, env={**NO_SERVICES, "PULPO_DB_PORT": "80"})
    assert_user_error(
        result, "db_port must be a port number from 1024 to 65535", "PULPO_DB_PORT"
    )


@pytest.mark.parametrize(
    ("setting", "env", "fragment"),
    [
        ('local_server = "maybe"', {}, "local_server must be true or false"),
        ("", {"PULPO_LOCAL_SERVER": "maybe"}, "PULPO_LOCAL_SERVER=1 or 0"),
        ('task_logs = "debug"', {}, "task_logs must be one of 'info', 'warning'"),
        ("", {"PULPO_TASK_LOGS": "loud"}, "got 'loud'"),
        ("", {"PULPO_HOST": "0.0.0.0"}, "keep host on loopback (127.0.0.1)"),
    ],
)
def test_bad_run_settings_are_config_errors(
    make_project: MakeProject, setting: str, env: dict[str, str], fragment: str
) -> None:
    config = f'[tool.pulpo]\nmodules = ["app.ops"]\n{setting}\n'
    root = make_project(ops=GOOD, pyproject=config)
    result = run_pulpo("status", cwd=root, env={**NO_SERVICES, **env})
    assert_user_error(result, "pyproject.toml", fragment)


def test_unknown_service_names_get_a_suggestion(make_project: MakeProject) -> None:
    result = run_pulpo("logs", "wroker", cwd=make_project(ops=GOOD), env=NO_SERVICES)
    assert_user_error(
        result,
        "unknown service 'wroker'",
        "did you mean 'worker'",
        "db, prefect, worker, api",
    )


def test_deploy_and_deployment_runs_need_the_server(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    assert_user_error(
        run_pulpo("prefect", "deploy", "--all", cwd=root, env=NO_SERVICES),
        "Prefect server is not running",
        "pulpo up",
    )
    assert_user_error(
        run_pulpo(
            "prefect", "run", "scraping_flow", "--deployment", cwd=root, env=NO_SERVICES
        ),
        "needs the Prefect server and worker",
    )


def test_down_with_nothing_running(make_project: MakeProject) -> None:
    result = run_pulpo("down", cwd=make_project(ops=GOOD), env=NO_SERVICES)
    assert result.returncode == 0 and "nothing was running" in result.stdout


DOCUMENTS = """
from typing import Annotated

from beanie import Document, Indexed
from pydantic import BaseModel
from pulpo import datamodel, operation


@datamodel
class Item(Document):
    key: Annotated[str, Indexed(unique=True)]


@datamodel
class Count(BaseModel):
    total: int


@operation(name="store.save", outputs=Count)
async def save(key: str = "a") -> Count:
    await Item.find_one(Item.key == key).upsert({"$set": {}}, on_insert=Item(key=key))
    return Count(total=await Item.count())


@operation(name="other.ping")
def ping() -> None: ...
"""


def test_flows_using_documents_need_a_database(make_project: MakeProject) -> None:
    root = make_project(ops=DOCUMENTS)
    result = run_pulpo("prefect", "run", "store_flow", cwd=root, env=NO_SERVICES)
    assert_user_error(
        result, "flow 'store_flow' uses Beanie documents", "pulpo up", "MONGODB_URL"
    )
    generated = (root / "run_cache" / "orchestration" / "store_flow.py").read_text()
    assert "await init_documents(DOCUMENTS)\n" in generated  # in the task using Item
    other = (root / "run_cache" / "orchestration" / "other_flow.py").read_text()
    assert "init_documents" not in other and "DOCUMENTS" not in other


def test_the_data_directory_is_private_even_when_an_older_pulpo_made_it_open(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    data = root / ".pulpo"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    result = run_pulpo(
        "api", "key", cwd=root, env={**NO_SERVICES, "PULPO_API_KEYS": ""}
    )
    assert result.returncode == 0, result.stderr
    assert oct(data.stat().st_mode & 0o777) == "0o700"


def test_api_key_is_created_once_and_private(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    env = {**NO_SERVICES, "PULPO_API_KEYS": ""}
    first = run_pulpo("api", "key", cwd=root, env=env)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 40
    key_file = root / ".pulpo" / "secrets" / "api_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(key_file.parent.stat().st_mode & 0o777) == "0o700"
    assert run_pulpo("api", "key", cwd=root, env=env).stdout.strip() == key
    configured = run_pulpo("api", "key", cwd=root, env={"PULPO_API_KEYS": "a, b"})
    assert configured.stdout.split() == ["a", "b"]


def test_api_port_and_cors_origins_are_checked(make_project: MakeProject) -> None:
    config = '[tool.pulpo]\nmodules = ["app.ops"]\napi_port = 45004\n'
    root = make_project(ops=GOOD, pyproject=config)
    rows = json.loads(run_pulpo("status", "--json", cwd=root, env=NO_SERVICES).stdout)
    assert rows[3]["address"] == "http://127.0.0.1:45004"
    result = run_pulpo(
        "status", cwd=root, env={**NO_SERVICES, "PULPO_CORS_ORIGINS": "localhost:5173"}
    )
    assert_user_error(result, "cors_origins entry 'localhost:5173'", "http://")


def test_the_ui_port_is_configurable_and_the_ui_stays_on_loopback(
    make_project: MakeProject,
) -> None:
    config = '[tool.pulpo]\nmodules = ["app.ops"]\nui_port = 45005\n'
    root = make_project(ops=GOOD, pyproject=config)
    rows = json.loads(run_pulpo("status", "--json", cwd=root, env=NO_SERVICES).stdout)
    assert rows[4] == {**rows[4], "name": "ui", "address": "http://127.0.0.1:45005"}
    env = {**NO_SERVICES, "PULPO_UI_PORT": "45006"}
    rows = json.loads(run_pulpo("status", "--json", cwd=root, env=env).stdout)
    assert rows[4]["address"] == "http://127.0.0.1:45006"
    # The UI uses the API with the project's key for whoever reaches it.
    result = run_pulpo(
        "ui", "start", cwd=root, env={**NO_SERVICES, "PULPO_UI_HOST": "0.0.0.0"}
    )
    assert_user_error(result, "ui_host '0.0.0.0' would let anyone", "SSH tunnel")
    not_running = run_pulpo("ui", "open", cwd=root, env=NO_SERVICES)
    assert_user_error(not_running, "the ui service is not running", "pulpo ui start")


@pytest.mark.parametrize("record", ["{not json", '{"pid": "x"}', "[1, 2]", ""])
def test_a_malformed_service_record_reads_as_stopped(
    make_project: MakeProject, record: str
) -> None:
    root = make_project(ops=GOOD)
    services = root / "run_cache" / "services"
    services.mkdir(parents=True)
    (services / "db.json").write_text(record)
    result = run_pulpo("status", "--json", cwd=root, env=NO_SERVICES)
    assert result.returncode == 3, result.stderr  # every service stopped
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)[0]["state"] == "stopped"
    assert run_pulpo("down", cwd=root, env=NO_SERVICES).returncode == 0
