"""The formatter sorts each module's import block and formats the whole module."""

from pulpo.orchestration.formatting import format_python


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
