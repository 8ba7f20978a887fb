import pytest

from pulpo import GraphError, ProjectError, operation
from pulpo.analysis.dataflow import DataFlowAnalyzer
from pulpo.decorators import datamodel_spec, operation_spec
from pulpo.orchestration.compiler import (
    FlowTimeouts,
    Orchestration,
    OrchestrationCompiler,
    TaskRunnerConfig,
)
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


def steps(orchestration: Orchestration, flow: str) -> list[tuple[str, bool]]:
    """(operation, upstream) for every step of ``flow``, in run order."""
    return [(s.operation, s.upstream) for s in orchestration.flows[flow].steps]


def test_a_namespace_flow_runs_every_operation_of_its_subtree_as_its_own_tasks() -> (
    None
):
    result = compile_ops(fetch_stepstone, fetch_linkedin, merge)
    flow = result.flows["scraping_flow"]
    assert sorted(steps(result, "scraping_flow")) == [
        ("scraping.linkedin.fetch", False),
        ("scraping.merge", False),
        ("scraping.stepstone.fetch", False),
    ]
    assert flow.steps[-1].operation == "scraping.merge"  # after what it consumes
    (merge_step,) = [s for s in flow.steps if s.operation == "scraping.merge"]
    sources = {
        a.parameter: [s.operation for s in a.sources] for a in merge_step.arguments
    }
    assert sources == {
        "stepstone": ["scraping.stepstone.fetch"],
        "linkedin": ["scraping.linkedin.fetch"],
    }
    assert flow.upstream == ()
    # Every namespace keeps its own flow.
    assert steps(result, "scraping_stepstone_flow") == [
        ("scraping.stepstone.fetch", False)
    ]


def test_parameters_are_merged_by_name_across_the_subtree() -> None:
    flow = compile_ops(fetch_stepstone, fetch_linkedin, merge).flows["scraping_flow"]
    assert [(p.name, p.default, p.operations) for p in flow.parameters] == [
        ("keywords", "python", ("scraping.linkedin.fetch", "scraping.stepstone.fetch")),
        ("limit", 5, ("scraping.stepstone.fetch",)),
    ]


def test_a_flow_runs_only_the_upstream_operations_its_inputs_need() -> None:
    @operation(name="scraping.extra", outputs=Report)
    def extra() -> Report: ...

    result = compile_ops(fetch_stepstone, fetch_linkedin, merge, extra, count)
    flow = result.flows["parsing_flow"]
    assert sorted(steps(result, "parsing_flow")) == [
        ("parsing.count", False),
        ("scraping.linkedin.fetch", True),
        ("scraping.merge", True),
        ("scraping.stepstone.fetch", True),
    ]  # not scraping.extra: nothing in parsing needs it
    assert flow.upstream == (
        "scraping.linkedin.fetch",
        "scraping.merge",
        "scraping.stepstone.fetch",
    )
    assert all(s.skipped_when_given == ("clean",) for s in flow.steps if s.upstream)
    assert [(p.name, p.required, p.supplies) for p in flow.parameters] == [
        ("keywords", False, None),
        ("limit", False, None),
        ("top", False, None),
        ("clean", False, "scraping.merge"),
    ]
    assert flow.parameters[-1].annotation == Clean | None
    (count_step,) = [s for s in flow.steps if not s.upstream]
    (argument,) = [a for a in count_step.arguments if a.sources]
    assert argument.sources[0].supplied_by == "clean"


def test_a_sub_namespace_fed_by_a_sibling_runs_the_sibling_flow_in_its_run() -> None:
    @operation(name="scraping.linkedin.enrich", inputs=Raw, outputs=Clean)
    def enrich(stepstone: Raw) -> Clean: ...

    result = compile_ops(fetch_stepstone, enrich)
    flow = result.flows["scraping_linkedin_flow"]
    # What it needs is exactly scraping_stepstone_flow: awaited, not repeated.
    assert steps(result, "scraping_linkedin_flow") == [
        ("scraping.linkedin.enrich", False)
    ]
    assert flow.delegation is not None
    assert flow.delegation.flow == "scraping_stepstone_flow"
    assert dict(flow.delegation.supplies) == {"scraping.stepstone.fetch": "raw"}
    assert sorted(steps(result, "scraping_flow")) == [
        ("scraping.linkedin.enrich", False),
        ("scraping.stepstone.fetch", False),
    ]


def test_inputs_that_cross_namespaces_both_ways_need_no_flow_to_run_another() -> None:
    @operation(name="scraping.seed", outputs=Raw)
    def seed() -> Raw: ...

    @operation(name="scraping.linkedin.enrich", inputs=Raw, outputs=Clean)
    def enrich(raw: Raw) -> Clean: ...

    @operation(name="scraping.report", inputs=Clean, outputs=Report)
    def report(clean: Clean) -> Report: ...

    result = compile_ops(seed, enrich, report)
    assert steps(result, "scraping_flow") == [
        ("scraping.seed", False),
        ("scraping.linkedin.enrich", False),
        ("scraping.report", False),
    ]
    assert steps(result, "scraping_linkedin_flow") == [
        ("scraping.seed", True),
        ("scraping.linkedin.enrich", False),
    ]


def test_an_input_taken_from_two_outside_producers_gets_a_parameter_for_each() -> None:
    @operation(name="scraping.extra", outputs=Report)
    def extra() -> Report: ...

    @operation(name="report", inputs=Raw, outputs=Report)
    def report(raws: list[Raw]) -> Report: ...

    flow = compile_ops(fetch_stepstone, fetch_linkedin, extra, report).flows[
        "report_flow"
    ]
    assert [(p.name, p.supplies) for p in flow.parameters if p.supplies] == [
        ("raw_from_scraping_linkedin_fetch", "scraping.linkedin.fetch"),
        ("raw_from_scraping_stepstone_fetch", "scraping.stepstone.fetch"),
    ]
    skips = {s.operation: s.skipped_when_given for s in flow.steps if s.upstream}
    assert skips == {
        "scraping.linkedin.fetch": ("raw_from_scraping_linkedin_fetch",),
        "scraping.stepstone.fetch": ("raw_from_scraping_stepstone_fetch",),
    }


def test_a_chain_of_namespaces_compiles_to_flows_of_their_own_size() -> None:
    # ns00.step → M00 → ns01.step → M01 → … : each flow needs everything before it.
    source = [
        "from pydantic import BaseModel",
        "from pulpo import datamodel, operation",
    ]
    for i in range(40):
        source += [f"@datamodel\nclass M{i:02d}(BaseModel):\n    n: int = {i}"]
        previous = f"previous: M{i - 1:02d}" if i else ""
        source += [
            f"@operation(name='ns{i:02d}.step', outputs=M{i:02d})\n"
            f"def step{i:02d}({previous}) -> M{i:02d}: ..."
        ]
    namespace: dict[str, object] = {}
    exec("\n\n".join(source), namespace)
    models = [datamodel_spec(namespace[f"M{i:02d}"]) for i in range(40)]
    operations = [operation_spec(namespace[f"step{i:02d}"]) for i in range(40)]
    graph = DataFlowAnalyzer(models, operations).analyze()  # type: ignore[arg-type]
    flows = OrchestrationCompiler(graph).compile().flows
    last = flows["ns39_flow"]
    assert [s.operation for s in last.steps] == ["ns39.step"]  # not 40 steps
    assert last.delegation is not None and last.delegation.flow == "ns38_flow"
    assert last.upstream == ()  # its body starts no outside task itself
    assert sum(len(f.steps) for f in flows.values()) == 40


def test_a_supplying_parameter_that_clashes_with_a_plain_one_is_rejected() -> None:
    @operation(name="parsing.count", inputs=Clean, outputs=Report)
    def clashing(data: Clean, clean: int = 1) -> Report: ...

    with pytest.raises(GraphError, match="has a parameter 'clean' and takes Clean"):
        compile_ops(fetch_stepstone, fetch_linkedin, merge, clashing)


def test_task_runners_come_from_the_config_and_apply_to_sub_namespaces() -> None:
    graph = DataFlowAnalyzer(
        [datamodel_spec(m) for m in (Raw, Clean, Report)],  # type: ignore[misc]
        [operation_spec(f) for f in (fetch_stepstone, fetch_linkedin, merge, ping)],  # type: ignore[misc]
    ).analyze()
    config = TaskRunnerConfig(
        "threads", {"scraping_flow": "processes", "scraping_linkedin_flow": "dask"}
    )
    flows = OrchestrationCompiler(graph, config).compile().flows
    assert {name: f.task_runner for name, f in flows.items()} == {
        "ping_flow": "threads",
        "scraping_flow": "processes",
        "scraping_linkedin_flow": "dask",
        "scraping_stepstone_flow": "processes",
    }
    with pytest.raises(ProjectError, match="did you mean 'scraping_flow'"):
        OrchestrationCompiler(
            graph, TaskRunnerConfig("threads", {"scrapping_flow": "dask"})
        ).compile()


def test_a_flow_timeout_applies_to_its_flow_only_else_the_default() -> None:
    graph = DataFlowAnalyzer(
        [datamodel_spec(m) for m in (Raw, Clean, Report)],  # type: ignore[misc]
        [operation_spec(f) for f in (fetch_stepstone, fetch_linkedin, merge, ping)],  # type: ignore[misc]
    ).analyze()
    timeouts = FlowTimeouts(60.0, {"scraping_flow": 2.0})
    flows = OrchestrationCompiler(graph, timeouts=timeouts).compile().flows
    assert {name: f.timeout for name, f in flows.items()} == {
        "ping_flow": 60.0,
        "scraping_flow": 2.0,
        "scraping_linkedin_flow": 60.0,
        "scraping_stepstone_flow": 60.0,
    }
    with pytest.raises(ProjectError, match="did you mean 'scraping_flow'"):
        OrchestrationCompiler(
            graph, timeouts=FlowTimeouts(None, {"scrapping_flow": 2.0})
        ).compile()


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


def test_flow_names_that_differ_only_in_case_are_rejected() -> None:
    @operation(name="ETL.load")
    def load_upper() -> None: ...

    @operation(name="etl.load")
    def load_lower() -> None: ...

    with pytest.raises(
        GraphError,
        match="'ETL' and 'etl' would generate the flows 'ETL_flow' and 'etl_flow'",
    ):
        compile_ops(load_upper, load_lower)


def test_standalone_operations_run_the_upstream_operations_they_need() -> None:
    @operation(name="report", inputs=Clean, outputs=Report)
    def report(clean: Clean) -> Report: ...

    result = compile_ops(fetch_stepstone, fetch_linkedin, merge, report)
    flow = result.flows["report_flow"]
    assert steps(result, "report_flow") == [("report", False)]
    assert flow.delegation is not None and flow.delegation.flow == "scraping_flow"
    assert [(p.name, p.supplies) for p in flow.parameters] == [
        ("keywords", None),
        ("limit", None),
        ("clean", "scraping.merge"),
    ]


def test_flow_parameters_starting_with_an_underscore_are_rejected() -> None:
    @operation(name="a.one")
    def one(_: int = 1) -> None: ...

    with pytest.raises(GraphError, match="start with an underscore; rename it"):
        compile_ops(one)
