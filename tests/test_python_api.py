"""The Python API: one ``CLI`` used twice in a process sees code edited in between."""

from __future__ import annotations

import pickle
import time

import pytest

from pulpo import CLI, operation
from pulpo.errors import (
    DefinitionError,
    GraphError,
    ProjectError,
    RunError,
    ServiceError,
)
from pulpo.runtime.tasks import OperationFailed
from tests.conftest import MakeProject

OPS = """
from pydantic import BaseModel
from pulpo import datamodel, operation

@datamodel
class Note(BaseModel):
    text: str

@operation(name="notes.write")
def write(text: str = "x") -> Note:
    return Note(text=text)
"""


def test_a_second_build_in_one_process_sees_the_edited_code(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=OPS)
    cli = CLI(root)
    assert cli.build().flows == ("notes_flow",)
    time.sleep(0.01)  # a new mtime for the fingerprint
    edited = OPS + '\n@operation(name="drafts.keep")\ndef keep() -> Note: ...\n'
    (root / "app" / "ops.py").write_text(edited)
    result = CLI(root).build()
    assert result.flows == ("drafts_flow", "notes_flow")
    generated = (root / "run_cache" / "orchestration" / "drafts_flow.py").read_text()
    assert "def drafts_flow" in generated
    assert [op["name"] for op in cli.inspect()["operations"]] == [
        "drafts.keep",
        "notes.write",
    ]


def test_build_leaves_no_module_of_an_earlier_project_version_behind(
    make_project: MakeProject,
) -> None:
    import sys

    root = make_project(ops=OPS)
    CLI(root).build()
    first = sys.modules["app.ops"]
    (root / "app" / "ops.py").write_text(OPS.replace('"x"', '"y"'))
    CLI(root).build()
    assert sys.modules["app.ops"] is not first
    assert sys.modules["app.ops"].write.__defaults__ == ("y",)


def test_user_mistakes_are_pulpo_errors_with_the_facts_as_fields(
    make_project: MakeProject,
) -> None:
    """A program using pulpo can tell which flow, parameter or service was wrong."""
    root = make_project(ops=OPS)
    cli = CLI(root)
    with pytest.raises(RunError) as unknown_flow:
        cli.run("note_flow")
    assert unknown_flow.value.flow == "note_flow"
    assert unknown_flow.value.candidates == ("notes_flow",)
    with pytest.raises(RunError) as bad_parameter:
        cli.run("notes_flow", params=["txt=hello"])
    assert bad_parameter.value.fields() == {
        "flow": "notes_flow",
        "candidates": ["text"],
        "parameter": "txt",
    }
    with pytest.raises(ServiceError) as unknown_service:
        cli.logs("wroker")
    assert unknown_service.value.details["service"] == "wroker"
    assert "worker" in unknown_service.value.candidates
    (root / "pyproject.toml").write_text(
        "[tool.pulpo]\nmodules = ['app.ops']\nhost = 1\n"
    )
    with pytest.raises(ProjectError) as bad_config:
        CLI(root).build()
    assert bad_config.value.details["path"] == str(root / "pyproject.toml")


def test_an_operation_error_keeps_its_fields_across_processes() -> None:
    """The processes task runner pickles errors raised in its worker processes."""
    failed = OperationFailed("notes.write", ValueError("empty note"))
    copy = pickle.loads(pickle.dumps(failed))
    assert isinstance(copy, OperationFailed)
    assert copy.operation == "notes.write"
    assert str(copy) == str(failed)
    ambiguous = GraphError.ambiguous_input("jobs.merge", "raw", "Raw", ["a.x", "b.x"])
    assert pickle.loads(pickle.dumps(ambiguous)).fields() == {
        "operation": "jobs.merge",
        "candidates": ["a.x", "b.x"],
        "parameter": "raw",
        "model": "Raw",
    }


def test_a_misused_decorator_names_the_operation() -> None:
    with pytest.raises(DefinitionError) as raised:

        @operation(name="notes.fan", max_concurrency=0)
        def fan() -> None: ...

    assert raised.value.operation == "notes.fan"
