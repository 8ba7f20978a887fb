"""One settings model: the environment wins over [tool.pulpo], which wins over defaults;
what a command reads is what the processes it starts read back."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pulpo.errors import ProjectError
from pulpo.project import Project
from pulpo.services.definitions import project_services
from pulpo.settings import DEFAULT_DB_PORT, Settings, exported, variable

PULPO = Path(__file__).resolve().parents[1] / "pulpo"


def project(tmp_path: Path, table: str) -> Project:
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\n\n[tool.pulpo]\nmodules = ["shop.ops"]\n{table}'
    )
    return Project.find(tmp_path)


def settings(tmp_path: Path, table: str) -> Settings:
    return project(tmp_path, table).settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PULPO_") or name == "MONGODB_URL":
            monkeypatch.delenv(name)


def test_defaults_then_the_file_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings(tmp_path, "").db_port == DEFAULT_DB_PORT
    assert settings(tmp_path, "").database == Project.find(tmp_path).name
    assert settings(tmp_path, "db_port = 50001\n").db_port == 50001
    monkeypatch.setenv("PULPO_DB_PORT", "50002")
    assert settings(tmp_path, "db_port = 50001\n").db_port == 50002


def test_an_empty_environment_variable_clears_a_configured_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = 'mongodb_url = "mongodb://db:27017"\ncors_origins = ["http://a.test"]\n'
    assert settings(tmp_path, table).mongodb_url == "mongodb://db:27017"
    monkeypatch.setenv("MONGODB_URL", "")
    monkeypatch.setenv("PULPO_CORS_ORIGINS", "")
    cleared = settings(tmp_path, table)
    assert cleared.mongodb_url is None
    assert cleared.cors_origins == ()


def test_false_in_the_file_is_not_mistaken_for_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings(tmp_path, "").local_server is True
    assert settings(tmp_path, "local_server = false\n").local_server is False
    monkeypatch.setenv("PULPO_LOCAL_SERVER", "1")
    assert settings(tmp_path, "local_server = false\n").local_server is True


def test_an_empty_port_in_the_environment_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULPO_DB_PORT", "")
    with pytest.raises(ProjectError, match="db_port must be a port number"):
        settings(tmp_path, "db_port = 50001\n")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("dtabase = 'x'\n", "unknown key 'dtabase' (did you mean 'database'?)"),
        ("task_runner = 'thread'\n", "(got 'thread') (did you mean 'threads'?)"),
        (
            "[tool.pulpo.flows.crunch_flow]\ntask_runer = 'dask'\n",
            "unknown key 'task_runer' in [tool.pulpo.flows.crunch_flow] "
            "(did you mean 'task_runner'?)",
        ),
        (
            "[tool.pulpo.flows.crunch_flow]\ntask_runner = 'dsk'\n",
            "[tool.pulpo.flows.crunch_flow] task_runner must be one of",
        ),
        ("api_keys = 'secret'\n", "api_keys is read from PULPO_API_KEYS only"),
        ("cors_origins = ['example.com']\n", "entry 'example.com' is not an origin"),
        ("dask_address = 'localhost'\n", "dask_address must be a scheduler address"),
        ("host = '0.0.0.0'\n", "keep host on loopback (127.0.0.1) and set api_host"),
        (
            "api_host = '0.0.0.0'\nauth = 'none'\n",
            "auth = 'none' would let anyone who reaches 0.0.0.0 use the API",
        ),
        ("auth = 'off'\n", "auth must be 'key' (every /api/v1 request needs"),
        ("flow_timeout = 0\n", "flow_timeout must be a number of seconds > 0 (got 0)"),
        (
            "run_retention = '30 days'\n",
            'run_retention must be a duration such as "30d", "12h" or "90m"',
        ),
        (
            "[tool.pulpo.flows.crunch_flow]\ntimeout = -2\n",
            "[tool.pulpo.flows.crunch_flow] timeout must be a number of seconds > 0",
        ),
    ],
)
def test_mistakes_in_the_file_name_the_key_and_the_fix(
    tmp_path: Path, table: str, message: str
) -> None:
    with pytest.raises(ProjectError) as raised:
        settings(tmp_path, table)
    assert message in str(raised.value)


def test_a_table_in_the_environment_must_be_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULPO_FLOWS", "{crunch_flow")
    with pytest.raises(ProjectError, match="PULPO_FLOWS must be one table per flow"):
        settings(tmp_path, "")


def test_what_a_command_reads_its_services_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker and the API get the project's names, not defaults of their own."""
    table = (
        "db_port = 50011\ntask_runner = 'processes'\ncors_origins = ['http://a.test']\n"
        "[tool.pulpo.flows.crunch_flow]\ntask_runner = 'threads'\n"
    )
    configured = project(tmp_path, table)
    for name in ("worker", "api"):
        environment = project_services(configured, configured.settings)[name].env
        for variable_name, value in environment.items():
            monkeypatch.setenv(variable_name, value)
        received = Settings.from_environment()
        assert received.work_pool == "pulpo-" + configured.name
        assert received.database == configured.name
        assert received.mongodb_url == "mongodb://127.0.0.1:50011"
        assert received.task_runner_of("crunch_flow") == "threads"
        assert received.task_runner_of("other_flow") == "processes"
        assert received.cors_origins == ("http://a.test",)


def test_a_run_hands_settings_down_and_restores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = settings(tmp_path, "database = 'shop_db'\n")
    monkeypatch.setenv("PULPO_DATABASE", "users_choice")
    chosen = settings(tmp_path, "database = 'shop_db'\n")
    with exported(chosen.model_copy(update={"mongodb_url": "mongodb://x:1"})):
        inside = Settings.from_environment()
        assert (inside.database, inside.mongodb_url) == (
            "users_choice",
            "mongodb://x:1",
        )
    assert os.environ["PULPO_DATABASE"] == "users_choice"
    assert "MONGODB_URL" not in os.environ
    assert configured.database == "shop_db"


def test_only_the_settings_module_reads_pulpo_variables() -> None:
    """Every ``PULPO_*`` setting and ``MONGODB_URL`` is read through the model."""
    names = {variable(name) for name in Settings.model_fields}
    read = re.compile(r"""(?:environ\.get\(|environ\[|getenv\()\s*["']([A-Z_]+)["']""")
    offenders = [
        f"{path.relative_to(PULPO)}: {match}"
        for path in PULPO.rglob("*.py")
        if path.name != "settings.py" or path.parent != PULPO
        for match in read.findall(path.read_text())
        if match in names
    ]
    assert offenders == []


def test_the_api_may_listen_elsewhere_while_db_and_prefect_stay_on_loopback(
    tmp_path: Path,
) -> None:
    configured = project(tmp_path, "api_host = '0.0.0.0'\n")
    services = project_services(configured, configured.settings)
    assert services["api"].command[services["api"].command.index("--host") + 1] == (
        "0.0.0.0"
    )
    for name in ("db", "prefect"):
        command = services[name].command
        assert command[command.index("--host") + 1] == "127.0.0.1"
    assert configured.settings.api_url == "http://127.0.0.1:47800"


def test_flow_timeouts_per_flow_and_for_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "flow_timeout = 600\n[tool.pulpo.flows.crunch_flow]\ntimeout = 2.5\n"
    configured = settings(tmp_path, table)
    assert (configured.flow_timeout, configured.flow_timeouts) == (
        600,
        {"crunch_flow": 2.5},
    )
    monkeypatch.setenv("PULPO_FLOW_TIMEOUT", "")  # an empty variable clears it
    assert settings(tmp_path, table).flow_timeout is None
