"""The dependency graph of a project, inferred from data flow.

An operation that outputs datamodel ``X`` feeds every parameter annotated ``X`` (or
``list[X]``) of other operations: ``producer → X → consumer``. Those wired edges are
the only dependencies; everything else an operation needs becomes a flow parameter.
"""

from __future__ import annotations

import graphlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, TypeVar

import networkx as nx

from pulpo.analysis.signatures import (
    ParameterInfo,
    check_return_annotation,
    describe_parameters,
    resolve_model_ref,
)
from pulpo.decorators import DataModelSpec, OperationSpec
from pulpo.errors import CycleError, GraphError
from pulpo.resources import ResourceSpec, resources_by_type


class Binding(NamedTuple):
    """Where one parameter's value comes from.

    With no producers the parameter is a flow parameter; otherwise it receives the
    output of its producer, or with ``many`` the outputs of all producers in order.
    """

    parameter: ParameterInfo
    producers: tuple[str, ...] = ()

    @property
    def is_flow_parameter(self) -> bool:
        return not self.producers


class OperationNode(NamedTuple):
    """An operation with its parameters resolved and wired.

    ``resources`` pairs each parameter that receives a resource with the resource's
    name; those parameters are neither wired nor flow parameters.
    """

    spec: OperationSpec
    bindings: tuple[Binding, ...]
    output: str | None
    resources: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the datamodels the operation consumes, sorted."""
        return tuple(
            sorted({b.parameter.model for b in self.bindings if b.parameter.model})
        )

    @property
    def upstream(self) -> tuple[str, ...]:
        """Operations this one depends on, sorted."""
        return tuple(sorted({p for b in self.bindings for p in b.producers}))

    @property
    def mapped(self) -> bool:
        """True for a fan-out: the output is a list, one result per item."""
        return self.spec.map_over is not None


class Edge(NamedTuple):
    """``producer`` outputs ``model``, which feeds ``parameter`` of ``consumer``."""

    producer: str
    model: str
    consumer: str
    parameter: str


@dataclass(frozen=True)
class DataFlowGraph:
    """Immutable result of the analysis; every collection is sorted by name."""

    models: Mapping[str, DataModelSpec]
    operations: Mapping[str, OperationNode]
    edges: tuple[Edge, ...]
    order: tuple[str, ...]
    producers: Mapping[str, tuple[str, ...]]
    resources: Mapping[str, ResourceSpec] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def producers_of(self, model: str) -> tuple[str, ...]:
        """Operations that output ``model``, sorted."""
        return self.producers.get(model, ())

    def dependency_graph(self) -> nx.DiGraph:
        """Operations as a networkx graph, ``producer → consumer`` edges carrying the
        model. Built on request: the build itself does not need it."""
        return _dependency_graph(self.operations, self.edges)

    def parallel_groups(self) -> tuple[tuple[str, ...], ...]:
        """Operations grouped by depth: each group only needs earlier groups."""
        return tuple(
            tuple(sorted(group))
            for group in nx.topological_generations(self.dependency_graph())
        )


class DataFlowAnalyzer:
    """Builds the :class:`DataFlowGraph` of a set of datamodels and operations."""

    def __init__(
        self,
        models: Sequence[DataModelSpec],
        operations: Sequence[OperationSpec],
        resources: Sequence[ResourceSpec] = (),
    ) -> None:
        self._models = _index_by_name(
            models,
            lambda m: m.cls,
            "datamodel",
            "pass a distinct name=... to @datamodel",
        )
        self._operations = _index_by_name(
            operations,
            lambda o: o.function,
            "operation",
            "give each operation its own name",
        )
        self._resources = _index_by_name(
            resources,
            lambda r: r.provider,
            "resource",
            "pass a distinct name=... to @resource",
        )

    def analyze(self) -> DataFlowGraph:
        """Resolve, wire and check everything.

        Raises:
            GraphError: unknown datamodels, ambiguous producers, duplicate names.
            CycleError: the data flow loops back on itself.
        """
        classes = {name: spec.cls for name, spec in self._models.items()}
        class_names = {cls: name for name, cls in classes.items()}
        resource_types = resources_by_type(self._resources)
        parameters = {
            name: describe_parameters(
                spec, classes, class_names, self._resources, resource_types
            )
            for name, spec in self._operations.items()
        }
        outputs = {
            name: None
            if spec.output is None
            else resolve_model_ref(name, spec.output, classes, class_names)
            for name, spec in self._operations.items()
        }
        producers: dict[str, list[str]] = defaultdict(list)
        for name, model in outputs.items():  # names are sorted, so producers are too
            if model is not None:
                check_return_annotation(self._operations[name], model, classes[model])
                producers[model].append(name)

        mapped = {name for name, spec in self._operations.items() if spec.map_over}
        nodes: dict[str, OperationNode] = {}
        edges: list[Edge] = []
        for name, spec in self._operations.items():
            bindings = tuple(
                _bind(name, parameter, producers.get(parameter.model or "", []), mapped)
                for parameter in parameters[name]
                if parameter.resource is None
            )
            nodes[name] = OperationNode(
                spec=spec,
                bindings=bindings,
                output=outputs[name],
                resources=tuple(
                    (p.name, p.resource) for p in parameters[name] if p.resource
                ),
            )
            edges.extend(
                Edge(producer, b.parameter.model or "", name, b.parameter.name)
                for b in bindings
                for producer in b.producers
            )
        # Already ordered: consumers by name, then parameters in signature order.
        return DataFlowGraph(
            models=MappingProxyType(self._models),
            operations=MappingProxyType(nodes),
            edges=tuple(edges),
            order=_topological_order(nodes, edges),
            producers=MappingProxyType(
                {m: tuple(p) for m, p in sorted(producers.items())}
            ),
            resources=MappingProxyType(self._resources),
        )

    def build_dependency_graph(self) -> dict[str, list[str]]:
        """Map each operation to the operations it depends on."""
        graph = self.analyze()
        return {name: list(op.upstream) for name, op in graph.operations.items()}

    def find_parallel_groups(self) -> list[list[str]]:
        """Groups of operations that may run at the same time, in execution order."""
        return [list(group) for group in self.analyze().parallel_groups()]

    def topological_sort(self) -> list[str]:
        """Operations in an order that respects every dependency."""
        return list(self.analyze().order)


SpecT = TypeVar("SpecT", DataModelSpec, OperationSpec, ResourceSpec)


def _index_by_name(
    specs: Sequence[SpecT], target: Callable[[SpecT], object], what: str, fix: str
) -> dict[str, SpecT]:
    """Specs by name, sorted; the same name on two different objects is an error."""
    index: dict[str, SpecT] = {}
    for spec in sorted(specs, key=lambda s: s.name):
        other = index.get(spec.name)
        if other is not None and target(other) is not target(spec):
            raise GraphError(
                f"{what} name {spec.name!r} is used twice: {_where(target(other))} and "
                f"{_where(target(spec))}; {fix}"
            )
        index[spec.name] = spec
    return index


def _where(obj: object) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def _bind(
    operation: str, parameter: ParameterInfo, producers: list[str], mapped: set[str]
) -> Binding:
    if parameter.model is None:
        return Binding(parameter)
    if not producers:
        if parameter.field is not None:
            raise GraphError(
                f"operation {operation!r} maps over {parameter.model}.{parameter.field}"
                f" but no operation outputs {parameter.model}; add one, or map over "
                f"a datamodel that an operation outputs",
                operation=operation,
            )
        return Binding(parameter)
    if parameter.many:
        return Binding(parameter, tuple(producers))
    chosen = producers
    if len(producers) > 1:
        chosen = [p for p in producers if parameter.name in p.split(".")]
        if len(chosen) != 1:
            raise GraphError.ambiguous_input(
                operation, parameter.name, parameter.model, chosen or producers
            )
    if chosen[0] in mapped:
        raise GraphError(
            f"operation {operation!r}: parameter {parameter.name!r} takes one "
            f"{parameter.model}, but {chosen[0]!r} fans out and outputs a list of "
            f"them; annotate it list[{parameter.model}]",
            operation=operation,
        )
    return Binding(parameter, (chosen[0],))


def _dependency_graph(
    nodes: Mapping[str, OperationNode], edges: Sequence[Edge]
) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    # Reversed, so that of several edges between two operations the first one's model
    # is the one kept (and shown in cycle messages).
    graph.add_edges_from(
        (e.producer, e.consumer, {"model": e.model}) for e in reversed(edges)
    )
    return graph


def _topological_order(
    nodes: Mapping[str, OperationNode], edges: Sequence[Edge]
) -> tuple[str, ...]:
    """Operations in dependency order; a cycle is reported as a path."""
    # graphlib (stdlib) is the cheapest full check; networkx only pays to explain a cycle.
    sorter = graphlib.TopologicalSorter(
        {
            name: [p for b in node.bindings for p in b.producers]
            for name, node in nodes.items()
        }
    )
    try:
        return tuple(sorter.static_order())
    except graphlib.CycleError:
        pass
    graph = _dependency_graph(nodes, edges)
    cycle = nx.find_cycle(graph)
    path = [cycle[0][0]]
    for producer, consumer in cycle:
        path += [graph.edges[producer, consumer]["model"], consumer]
    raise CycleError.from_path(
        "operations",
        path,
        "an operation cannot (even indirectly) consume what it produces; split a "
        "datamodel so that the loop is broken",
    )
