"""The formatter sorts each module's import block and formats the whole module."""

import pytest

from pulpo.orchestration.formatting import FormatJob, FormattingError, format_python


def test_imports_are_sorted_grouped_and_the_module_formatted() -> None:
    source = (
        '"""Doc."""\n'
        "from project.models import Posting\n"
        "import asyncio\n"
        "from prefect import flow\n"
        "\n"
        "def f( x:int )->int:\n"
        "    return x\n"
    )

    formatted = format_python({"flows/a.py": source}, first_party=["project"])

    assert formatted["flows/a.py"] == (
        '"""Doc."""\n'
        "\n"
        "import asyncio\n"
        "\n"
        "from prefect import flow\n"
        "\n"
        "from project.models import Posting\n"
        "\n"
        "\n"
        "def f(x: int) -> int:\n"
        "    return x\n"
    )


def test_a_multi_line_import_is_left_whole_and_other_files_pass_through() -> None:
    source = "from typing import (\n    Any,\n)\nimport os\n\nx: Any = os\n"

    formatted = format_python(
        {"m.py": source, "graph.json": "{ }"}, first_party=["project"]
    )

    assert (
        formatted["m.py"]
        == "from typing import (\n    Any,\n)\nimport os\n\nx: Any = os\n"
    )
    assert formatted["graph.json"] == "{ }"


def test_code_ruff_cannot_parse_is_reported_as_a_pulpo_bug() -> None:
    with pytest.raises(FormattingError, match="a pulpo bug"):
        format_python({"m.py": "import os\n\ndef broken(:\n"})


def test_a_job_taken_in_steps_formats_like_format_python() -> None:
    files = {"a.py": "import sys\nimport os\nx=(os,sys)\n", "b.json": "[]"}

    with FormatJob(files) as job:
        job.format()
        stepped = job.result()

    assert stepped == format_python(files)
    assert stepped["a.py"] == "import os\nimport sys\n\nx = (os, sys)\n"
