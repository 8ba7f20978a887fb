"""Resource mistakes at build time: one `error:` line naming the culprit and the fix."""

from __future__ import annotations

import pytest

from tests.cli.test_errors import assert_user_error
from tests.conftest import MakeProject, run_pulpo

CLIENTS = """
from collections.abc import Iterator
from typing import Annotated

from pydantic import SecretStr
from pulpo import Resource, operation, resource

class LLM:
    pass

class Embedder:
    pass

@resource
def llm(model: str = "small", api_key: SecretStr | None = None) -> Iterator[LLM]:
    yield LLM()

@resource(name="embedder")
def make_embedder(size: int = 8) -> Embedder:
    return Embedder()
"""

USES = {
    "by type": "@operation(name='topics.enrich')\ndef enrich(text: str, llm: LLM) -> str:\n    return text\n",
    "misnamed": (
        "@operation(name='topics.enrich')\n"
        "def enrich(text: str, llm: Annotated[LLM, Resource('lm')]) -> str:\n"
        "    return text\n"
    ),
    "mistyped": (
        "@operation(name='topics.enrich')\n"
        "def enrich(text: str, e: Annotated[LLM, Resource('embedder')]) -> str:\n"
        "    return text\n"
    ),
}


def project(make_project: MakeProject, use: str, table: str = "") -> MakeProject:
    config = (
        '[project]\nname = "app"\nversion = "0"\n\n[tool.pulpo]\n'
        'modules = ["app.ops"]\n' + table
    )
    return make_project(pyproject=config, ops=CLIENTS + USES[use])


def test_a_resource_is_no_flow_parameter(make_project: MakeProject) -> None:
    root = project(
        make_project, "by type", '[tool.pulpo.resources.llm]\nmodel = "big"\n'
    )
    result = run_pulpo("inspect", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "topics_flow (1 operations): text: str" in result.stdout
    assert "uses llm" in result.stdout


@pytest.mark.parametrize(
    ("use", "table", "fragments"),
    [
        (
            "misnamed",
            "",
            ["'topics.enrich'", "resource 'lm'", "did you mean 'llm'", "@resource"],
        ),
        (
            "mistyped",
            "",
            ["parameter 'e' is annotated LLM", "'embedder'", "provides Embedder"],
        ),
        (
            "by type",
            '[tool.pulpo.resources.lm]\nmodel = "big"\n',
            ["[tool.pulpo.resources.lm] names no resource", "did you mean 'llm'"],
        ),
        (
            "by type",
            '[tool.pulpo.resources.llm]\nmodle = "big"\n',
            ["sets 'modle'", "did you mean 'model'", "its settings: model, api_key"],
        ),
        (
            "by type",
            '[tool.pulpo.resources.llm]\napi_key = "sk-123"\n',
            ["'api_key', a secret", "PULPO_RESOURCE_LLM_API_KEY"],
        ),
        (
            "by type",
            '[tool.pulpo.resources.embedder]\nsize = "eight"\n',
            ["resource 'embedder'", "size is 'eight'", "integer"],
        ),
    ],
    ids=[
        "unknown name",
        "wrong type",
        "unknown table",
        "unknown key",
        "secret",
        "bad value",
    ],
)
def test_resource_mistakes_are_one_line(
    make_project: MakeProject, use: str, table: str, fragments: list[str]
) -> None:
    root = project(make_project, use, table)
    result = run_pulpo("build", cwd=root)
    assert_user_error(result, *fragments)
    assert "sk-123" not in result.stderr
    assert not (root / "run_cache" / "orchestration").exists()


def test_two_resources_of_one_type_need_a_name(make_project: MakeProject) -> None:
    source = CLIENTS + (
        "@resource(name='backup')\ndef backup_llm() -> LLM:\n    return LLM()\n\n"
        + USES["by type"]
    )
    root = make_project(ops=source)
    assert_user_error(
        run_pulpo("build", cwd=root),
        "parameter 'llm' is annotated LLM",
        "'backup', 'llm' all provide",
        'Annotated[LLM, Resource("backup")]',
    )
