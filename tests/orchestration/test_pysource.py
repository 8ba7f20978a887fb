import datetime
import typing
from typing import Any, Literal

import pytest

from pulpo.orchestration.pysource import (
    Call,
    Imports,
    ListExpr,
    TypeRenderer,
    format_statement,
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


def test_calls_stay_on_one_line_when_they_fit() -> None:
    call = Call("graph.task", ("scraping_merge_task", "top=top"))
    assert format_statement(call, 1) == ["    graph.task(scraping_merge_task, top=top)"]


def test_long_calls_put_arguments_on_one_indented_line_then_one_per_line() -> None:
    args = tuple(f"argument_{i}=value_{i}" for i in range(4))
    assert format_statement(Call("some_function", args), 1) == [
        "    some_function(",
        "        argument_0=value_0, argument_1=value_1, argument_2=value_2, argument_3=value_3",
        "    )",
    ]
    many = tuple(f"argument_{i}=value_{i}" for i in range(8))
    lines = format_statement(Call("some_function", many), 1, before="x = ")
    assert lines[0] == "    x = some_function("
    assert lines[1:-1] == [f"        {a}," for a in many]
    assert lines[-1] == "    )"


def test_long_lists_inside_calls_are_exploded_too() -> None:
    items = tuple(f'unit_{i}.output("namespace.operation_{i}")' for i in range(3))
    lines = format_statement(Call("graph.task", ("task", ListExpr("jobs=", items))), 1)
    assert lines == [
        "    graph.task(",
        "        task,",
        "        jobs=[",
        *[f"            {item}," for item in items],
        "        ],",
        "    )",
    ]
