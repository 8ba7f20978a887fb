import pytest

from pulpo import CycleError, GraphError, operation
from pulpo.analysis.dataflow import DataFlowAnalyzer
from pulpo.decorators import datamodel_spec, operation_spec
from pulpo.orchestration.compiler import Orchestration, OrchestrationCompiler, Unit
from tests.models import Clean, Raw, Report


def compile_ops(*functions: object) -> Orchestration:
    graph = DataFlowAnalyzer(
        [datamodel_spec(m) for m in (Raw, Clean, Report)],  # type: ignore[misc]
        [operation_spec(f) for f in functions],  # type: ignore[misc]
    ).analyze()
    return OrchestrationCompiler(graph).compile()


@operation(name="scraping.stepstone.fetch", outputs=Raw)
def fetch_stepstone(keywords: str = "python", limit: int = 5) -> Raw: ...


@operation(name="scraping.linkedin.fetch", outputs=Raw)
async def fetch_linkedin(keywords: str = "python") -> Raw: ...


@operation(name="scraping.merge", inputs=Raw, outputs=Clean)
def merge(stepstone: Raw, linkedin: Raw) -> Clean: ...


@operation(name="parsing.count", inputs=Clean, outputs=Report)
def count(clean: Clean, top: int = 3) -> Report: ...


@operation(name="ping")
def ping() -> None: ...


def units(orchestration: Orchestration, flow: str) -> list[Unit]:
    return list(orchestration.flows[flow].units)


def test_every_namespace_and_standalone_operation_gets_a_flow() -> None:
    result = compile_ops(fetch_stepstone, fetch_linkedin, merge, count, ping)
    assert list(result.flows) == [
        "parsing_flow",
        "ping_flow",
        "scraping_flow",
        "scraping_linkedin_flow",
        "scraping_stepstone_flow",
    ]
    assert {m: [f.name for f in flows] for m, flows in result.modules.items()} == {
        "parsing_flow": ["parsing_flow"],
        "scraping_flow": [
            "scraping_flow",
            "scraping_linkedin_flow",
            "scraping_stepstone_flow",
        ],
        "standalones": ["ping_flow"],
    }
    assert result.flows["ping_flow"].standalone
    assert result.flow_of("scraping.merge").name == "scraping_flow"


def test_a_namespace_flow_runs_sub_namespaces_as_subflows_and_its_own_operations_as_tasks() -> (
    None
):
    flow = compile_ops(fetch_stepstone, fetch_linkedin, merge).flows["scraping_flow"]
    assert [(u.kind, u.name) for u in flow.units] == [
        ("subflow", "scraping_linkedin_flow"),
        ("subflow", "scraping_stepstone_flow"),
        ("operation", "scraping.merge"),
    ]
    (merge_unit,) = [u for u in flow.units if u.kind == "operation"]
    sources = {
        a.parameter: [(s.unit, s.operation) for s in a.sources]
        for a in merge_unit.arguments
    }
    assert sources == {
        "stepstone": [("scraping_stepstone_flow", "scraping.stepstone.fetch")],
        "linkedin": [("scraping_linkedin_flow", "scraping.linkedin.fetch")],
    }
    assert flow.operations == (
        "scraping.linkedin.fetch",
        "scraping.merge",
        "scraping.stepstone.fetch",
    )
    assert flow.dependencies["scraping.merge"] == (
        "scraping.linkedin.fetch",
        "scraping.stepstone.fetch",
    )


def test_parameters_are_merged_by_name_and_include_subflow_parameters() -> None:
    flow = compile_ops(fetch_stepstone, fetch_linkedin, merge).flows["scraping_flow"]
    assert [(p.name, p.default, p.operations) for p in flow.parameters] == [
        ("keywords", "python", ("scraping.linkedin.fetch", "scraping.stepstone.fetch")),
        ("limit", 5, ("scraping.stepstone.fetch",)),
    ]


def test_a_flow_first_runs_the_flow_that_produces_its_outside_inputs() -> None:
    result = compile_ops(fetch_stepstone, fetch_linkedin, merge, count)
    flow = result.flows["parsing_flow"]
    assert [(u.kind, u.name, u.needs) for u in flow.units] == [
        ("upstream", "scraping_flow", ("scraping.merge",)),
        ("operation", "parsing.count", ()),
    ]
    assert [p.name for p in flow.parameters] == ["keywords", "limit", "top"]


def test_a_sub_namespace_fed_by_a_sibling_waits_for_it() -> None:
    @operation(name="scraping.linkedin.enrich", inputs=Raw, outputs=Clean)
    def enrich(stepstone: Raw) -> Clean: ...

    result = compile_ops(fetch_stepstone, enrich)
    parent = {u.name: u for u in result.flows["scraping_flow"].units}
    assert parent["scraping_linkedin_flow"].after == ("scraping_stepstone_flow",)
    child = units(result, "scraping_linkedin_flow")
    assert [(u.kind, u.name) for u in child] == [
        ("upstream", "scraping_stepstone_flow"),
        ("operation", "scraping.linkedin.enrich"),
    ]


def test_flows_that_would_run_each_other_fail_with_the_cycle() -> None:
    @operation(name="scraping.seed", outputs=Raw)
    def seed() -> Raw: ...

    @operation(name="scraping.linkedin.enrich", inputs=Raw, outputs=Clean)
    def enrich(raw: Raw) -> Clean: ...

    with pytest.raises(CycleError) as error:
        compile_ops(seed, enrich)
    message = str(error.value)
    assert "flows form a cycle" in message
    assert "scraping_flow → scraping_linkedin_flow → scraping_flow" in message or (
        "scraping_linkedin_flow → scraping_flow → scraping_linkedin_flow" in message
    )
    assert "operations are acyclic" in message


def test_conflicting_parameter_types_are_rejected() -> None:
    @operation(name="a.one")
    def one(limit: int = 1) -> None: ...

    @operation(name="a.two")
    def two(limit: str = "1") -> None: ...

    with pytest.raises(
        GraphError, match="parameter 'limit' of 'a_flow' has different types"
    ):
        compile_ops(one, two)


def test_conflicting_defaults_are_rejected() -> None:
    @operation(name="a.one")
    def one(limit: int = 1) -> None: ...

    @operation(name="a.two")
    def two(limit: int = 2) -> None: ...

    with pytest.raises(
        GraphError, match=r"different defaults in 'a.one' \(1\) and 'a.two' \(2\)"
    ):
        compile_ops(one, two)


def test_an_operation_named_like_a_namespace_is_rejected() -> None:
    @operation(name="scraping")
    def scraping() -> None: ...

    with pytest.raises(GraphError, match="same name as the namespace"):
        compile_ops(scraping, fetch_linkedin)


def test_names_that_collide_once_turned_into_flow_names_are_rejected() -> None:
    @operation(name="a.b_c.x")
    def x() -> None: ...

    @operation(name="a_b.c.y")
    def y() -> None: ...

    with pytest.raises(GraphError, match="would both generate the flow 'a_b_c_flow'"):
        compile_ops(x, y)


def test_standalone_operations_consuming_namespace_output_run_that_flow_first() -> None:
    @operation(name="report", inputs=Clean, outputs=Report)
    def report(clean: Clean) -> Report: ...

    result = compile_ops(fetch_stepstone, fetch_linkedin, merge, report)
    assert [(u.kind, u.name) for u in units(result, "report_flow")] == [
        ("upstream", "scraping_flow"),
        ("operation", "report"),
    ]
