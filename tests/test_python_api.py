"""The Python API: one ``CLI`` used twice in a process sees code edited in between."""

from __future__ import annotations

import time

from pulpo import CLI
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
