import pytest
from pydantic import BaseModel

from pulpo import CycleError, DefinitionError, GraphError, operation
from pulpo.analysis.dataflow import DataFlowAnalyzer, DataFlowGraph
from pulpo.decorators import datamodel_spec, operation_spec
from tests.models import Clean, Raw, Report


def analyze(
    *functions: object, models: tuple[type, ...] = (Raw, Clean, Report)
) -> DataFlowGraph:
    return DataFlowAnalyzer(
        [datamodel_spec(m) for m in models],  # type: ignore[misc]
        [operation_spec(f) for f in functions],  # type: ignore[misc]
    ).analyze()


@operation(name="scraping.stepstone.fetch", outputs=Raw)
def fetch_stepstone(keywords: str = "python") -> Raw: ...


@operation(name="scraping.linkedin.fetch", outputs=Raw)
async def fetch_linkedin(keywords: str = "python") -> Raw: ...


def test_a_single_producer_feeds_the_parameter() -> None:
    @operation(name="parsing.clean", inputs=Raw, outputs=Clean)
    def clean(raw: Raw) -> Clean: ...

    graph = analyze(fetch_stepstone, clean)
    node = graph.operations["parsing.clean"]
    assert node.upstream == ("scraping.stepstone.fetch",)
    assert [(e.producer, e.model, e.consumer, e.parameter) for e in graph.edges] == [
        ("scraping.stepstone.fetch", "Raw", "parsing.clean", "raw")
    ]
    assert graph.order == ("scraping.stepstone.fetch", "parsing.clean")


def test_list_parameters_receive_every_producer_in_name_order() -> None:
    @operation(name="scraping.merge", inputs=[Raw], outputs=Clean)
    def merge(batches: list[Raw]) -> Clean: ...

    graph = analyze(fetch_stepstone, fetch_linkedin, merge)
    (binding,) = graph.operations["scraping.merge"].bindings
    assert binding.producers == ("scraping.linkedin.fetch", "scraping.stepstone.fetch")
    assert binding.parameter.many


def test_several_producers_are_told_apart_by_a_name_segment() -> None:
    @operation(name="scraping.merge", inputs=Raw, outputs=Clean)
    def merge(stepstone: Raw, linkedin: Raw) -> Clean: ...

    graph = analyze(fetch_stepstone, fetch_linkedin, merge)
    producers = {
        b.parameter.name: b.producers
        for b in graph.operations["scraping.merge"].bindings
    }
    assert producers == {
        "stepstone": ("scraping.stepstone.fetch",),
        "linkedin": ("scraping.linkedin.fetch",),
    }
    assert graph.parallel_groups()[0] == (
        "scraping.linkedin.fetch",
        "scraping.stepstone.fetch",
    )


def test_ambiguous_fan_in_names_the_candidates_and_suggests_a_list() -> None:
    @operation(name="scraping.merge", inputs=Raw, outputs=Clean)
    def merge(raw: Raw) -> Clean: ...

    with pytest.raises(GraphError) as error:
        analyze(fetch_stepstone, fetch_linkedin, merge)
    message = str(error.value)
    assert "'scraping.merge'" in message and "'raw'" in message
    assert "scraping.linkedin.fetch, scraping.stepstone.fetch" in message
    assert "list[Raw]" in message


def test_a_model_nobody_produces_and_plain_values_become_flow_parameters() -> None:
    @operation(name="parsing.clean", inputs=Raw, outputs=Clean)
    def clean(raw: Raw, strict: bool = False) -> Clean: ...

    graph = analyze(clean)
    bindings = graph.operations["parsing.clean"].bindings
    assert all(b.is_flow_parameter for b in bindings)
    assert [b.parameter.name for b in bindings] == ["raw", "strict"]


def test_a_cycle_is_reported_as_a_path_of_operations_and_models() -> None:
    @operation(name="a.first", inputs=Clean, outputs=Raw)
    def first(clean: Clean) -> Raw: ...

    @operation(name="a.second", inputs=Raw, outputs=Clean)
    def second(raw: Raw) -> Clean: ...

    with pytest.raises(CycleError) as error:
        analyze(first, second)
    assert "a.first → Raw → a.second → Clean → a.first" in str(error.value)


def test_unknown_model_names_get_a_suggestion() -> None:
    @operation(name="report", inputs="Cleen", outputs=Report)
    def report(clean: Clean) -> Report: ...

    with pytest.raises(
        GraphError, match=r"unknown datamodel 'Cleen' \(did you mean 'Clean'\?\)"
    ):
        analyze(report)


def test_classes_that_are_not_datamodels_are_unknown_models() -> None:
    class Loose(BaseModel):
        x: int = 0

    @operation(name="report", outputs=Loose)
    def report() -> Loose: ...

    with pytest.raises(GraphError, match="unknown datamodel 'Loose'.*@datamodel"):
        analyze(report)


def test_a_declared_input_must_annotate_a_parameter() -> None:
    with pytest.raises(DefinitionError, match="declares input 'Raw' but no parameter"):

        @operation(name="parsing.clean", inputs=Raw, outputs=Clean)
        def clean(data: dict) -> Clean: ...


def test_a_declared_input_named_by_string_is_checked_during_analysis() -> None:
    @operation(name="parsing.clean", inputs="Raw", outputs=Clean)
    def clean(data: dict) -> Clean: ...

    with pytest.raises(DefinitionError, match="declares input 'Raw' but no parameter"):
        analyze(clean)


def test_duplicate_operation_names_name_both_functions() -> None:
    @operation(name="scraping.stepstone.fetch", outputs=Raw)
    def other() -> Raw: ...

    with pytest.raises(GraphError, match="used twice"):
        analyze(fetch_stepstone, other)


def test_unresolvable_annotations_are_reported() -> None:
    @operation(name="op")
    def op(x: "Missing") -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(DefinitionError, match="cannot resolve the annotations"):
        analyze(op)


def test_a_fan_out_maps_over_a_list_field_of_its_producers_output() -> None:
    @operation(name="parsing.score", map_over={"item": "Raw.items"}, outputs=Report)
    def score(item: str, top: int = 3) -> Report: ...

    @operation(name="parsing.total", inputs=Report, outputs=Clean)
    def total(reports: list[Report]) -> Clean: ...

    graph = analyze(fetch_stepstone, score, total)
    node = graph.operations["parsing.score"]
    assert node.mapped and node.upstream == ("scraping.stepstone.fetch",)
    (item,) = [b for b in node.bindings if b.parameter.name == "item"]
    assert (item.parameter.model, item.parameter.field) == ("Raw", "items")
    assert graph.operations["parsing.total"].upstream == ("parsing.score",)


def test_a_fan_out_item_type_must_match_the_list_field() -> None:
    @operation(name="parsing.score", map_over={"item": "Raw.items"})
    def score(item: int) -> None: ...

    with pytest.raises(DefinitionError, match="annotated int but Raw.items holds str"):
        analyze(fetch_stepstone, score)


def test_a_fan_out_over_a_missing_field_suggests_the_right_one() -> None:
    @operation(name="parsing.score", map_over={"item": "Raw.itms"})
    def score(item: str) -> None: ...

    with pytest.raises(DefinitionError, match="did you mean 'items'"):
        analyze(fetch_stepstone, score)


def test_a_single_value_parameter_cannot_take_a_fan_out_output() -> None:
    @operation(name="parsing.score", map_over={"item": "Raw.items"}, outputs=Report)
    def score(item: str) -> Report: ...

    @operation(name="parsing.total", inputs=Report, outputs=Clean)
    def total(report: Report) -> Clean: ...

    with pytest.raises(GraphError, match="annotate it list\\[Report\\]"):
        analyze(fetch_stepstone, score, total)


def test_map_over_is_checked_when_the_decorator_runs() -> None:
    with pytest.raises(DefinitionError, match="does not have"):

        @operation(name="a.b", map_over={"missing": "Raw.items"})
        def b(item: str) -> None: ...

    with pytest.raises(DefinitionError, match="Datamodel.field"):
        operation(name="a.c", map_over={"item": "Raw"})
    with pytest.raises(DefinitionError, match="max_concurrency limits a fan-out"):
        operation(name="a.d", max_concurrency=2)
