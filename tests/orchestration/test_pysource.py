import datetime
import typing
from typing import Any, Literal

import pytest

from pulpo.orchestration.pysource import (
    Imports,
    TypeRenderer,
    is_literal,
    py_literal,
)


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("python", '"python"'),
        ('say "hi"', "'say \"hi\"'"),
        ("it's", '"it\'s"'),
        (b"raw", 'b"raw"'),
        (3, "3"),
        (0.5, "0.5"),
        (None, "None"),
        (True, "True"),
        ([1, "a"], '[1, "a"]'),
        ((1,), "(1,)"),
        ({"k": [1.5]}, '{"k": [1.5]}'),
    ],
)
def test_literals_render_like_ruff_format(value: object, source: str) -> None:
    assert py_literal(value) == source
    assert is_literal(value)


def test_values_without_a_literal_form_are_detected() -> None:
    assert not is_literal(datetime.date(2024, 1, 1))
    assert not is_literal(float("nan"))
    assert not is_literal({1, 2})


def test_annotations_render_with_the_imports_they_need() -> None:
    imports = Imports()
    render = TypeRenderer(imports).render
    assert render(str) == "str"
    assert render(list[int]) == "list[int]"
    assert render(dict[str, list[float]] | None) == "dict[str, list[float]] | None"
    assert render(typing.Optional[int]) == "int | None"  # noqa: UP045
    assert render(Literal["a", "b"]) == 'Literal["a", "b"]'
    assert render(tuple[int, ...]) == "tuple[int, ...]"
    assert render(datetime.date) == "date"
    assert "from datetime import date" in imports.statements()
    assert "from typing import Literal" in imports.statements()


def test_types_without_an_importable_name_become_any() -> None:
    class Local:
        pass

    imports = Imports()
    assert TypeRenderer(imports).render(Local) == "Any"
    assert TypeRenderer(imports).render(Any) == "Any"


def test_imports_give_clashing_names_an_alias() -> None:
    imports = Imports(reserved={"merge_task"})
    assert imports.name("app.a", "fetch") == "fetch"
    assert imports.name("app.b", "fetch") == "fetch_2"
    assert imports.name("app.c", "merge_task") == "merge_task_2"
    assert imports.statements() == [
        "from app.a import fetch",
        "from app.b import fetch as fetch_2",
        "from app.c import merge_task as merge_task_2",
    ]


def test_a_module_named_like_a_parameter_is_imported_under_an_alias() -> None:
    imports = Imports(reserved={"asyncio"})
    assert imports.module("asyncio") == "asyncio_2"
    assert imports.statements() == ["import asyncio as asyncio_2"]
