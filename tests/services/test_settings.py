"""Service settings: the environment wins over [tool.pulpo], which wins over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulpo.errors import ProjectError
from pulpo.project import Project
from pulpo.services.settings import DEFAULT_DB_PORT, ServiceSettings


def settings(tmp_path: Path, table: str) -> ServiceSettings:
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\n\n[tool.pulpo]\nmodules = ["shop.ops"]\n{table}'
    )
    return ServiceSettings.load(Project.find(tmp_path))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PULPO_DB_PORT",
        "PULPO_DATABASE",
        "PULPO_LOCAL_SERVER",
        "PULPO_CORS_ORIGINS",
        "MONGODB_URL",
    ):
        monkeypatch.delenv(name, raising=False)


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
