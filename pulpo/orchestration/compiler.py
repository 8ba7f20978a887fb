"""Group operations into flows: one per namespace, one per standalone operation.

A namespace flow runs the operations directly in its namespace as tasks and each
sub-namespace as a subflow. When something inside a flow consumes an operation from
outside it, the flow first runs that operation's own flow ("upstream" unit), unless an
enclosing flow already has the result. Every unit starts as soon as its inputs exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import networkx as nx

from pulpo.analysis.dataflow import DataFlowGraph
from pulpo.analysis.hierarchy import HierarchyParser, flow_name, is_within
from pulpo.analysis.signatures import EMPTY
from pulpo.errors import CycleError, GraphError

UnitKind = Literal["operation", "subflow", "upstream"]
STANDALONE_MODULE = "standalones"


@dataclass(frozen=True)
class FlowParameter:
    """A parameter of a flow, shared by every operation that names it."""

    name: str
    annotation: Any
    default: Any
    operations: tuple[str, ...]

    @property
    def required(self) -> bool:
        return self.default is EMPTY


@dataclass(frozen=True)
class Source:
    """A value taken from ``operation``'s output, found in ``unit`` of the same flow."""

    unit: str
    operation: str


@dataclass(frozen=True)
class Argument:
    """How one parameter of an operation is filled: flow parameter or sources."""

    parameter: str
    sources: tuple[Source, ...] = ()
    many: bool = False


@dataclass(frozen=True)
class Unit:
    """One step of a flow body.

    ``operation``: run the operation's task with ``arguments``. ``subflow``: run a
    child namespace's flow after the units in ``after``. ``upstream``: obtain the
    outputs ``needs`` of another flow, running it if no enclosing flow has them.
    ``name`` is the operation name or the flow name.
    """

    kind: UnitKind
    name: str
    arguments: tuple[Argument, ...] = ()
    after: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class FlowDefinition:
    """A flow ready for code generation."""

    name: str
    scope: str
    standalone: bool
    module: str
    operations: tuple[str, ...]
    units: tuple[Unit, ...]
    parameters: tuple[FlowParameter, ...]
    dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def calls(self) -> tuple[str, ...]:
        """Flows this flow may run as subflows, sorted."""
        return tuple(sorted(u.name for u in self.units if u.kind != "operation"))


@dataclass(frozen=True)
class Orchestration:
    """All flows of a project, by name, and the graph they came from."""

    graph: DataFlowGraph
    flows: Mapping[str, FlowDefinition]

    @property
    def modules(self) -> Mapping[str, tuple[FlowDefinition, ...]]:
        grouped: dict[str, list[FlowDefinition]] = defaultdict(list)
        for flow in self.flows.values():
            grouped[flow.module].append(flow)
        return {module: tuple(grouped[module]) for module in sorted(grouped)}

    def flow_of(self, operation: str) -> FlowDefinition:
        """The flow that runs ``operation`` as a task."""
        parent = HierarchyParser().get_parent(operation)
        return self.flows[flow_name(parent or operation)]


class OrchestrationCompiler:
    """Builds the :class:`Orchestration` for an analysed :class:`DataFlowGraph`."""

    def __init__(self, graph: DataFlowGraph) -> None:
        self.graph = graph
        self._parser = HierarchyParser()

    def compile(self) -> Orchestration:
        """Group, wire and check the flows.

        Raises:
            GraphError: names that collide once turned into flows, or parameters that
                mean different things in operations sharing a flow.
            CycleError: flows that would have to run each other.
        """
        operations = tuple(self.graph.operations)
        namespaces = self._parser.namespaces(operations)
        _check_names(operations, namespaces)
        scopes = sorted([*namespaces, *(op for op in operations if "." not in op)])
        plans = {scope: _FlowPlan(scope) for scope in scopes}
        for op in operations:
            for scope in [*self._parser.parse(op).namespaces, op]:
                if scope in plans:
                    plans[scope].members.append(op)
        for namespace in namespaces:
            parent = self._parser.get_parent(namespace)
            if parent is not None:
                plans[parent].children.append(namespace)
        for edge in self.graph.edges:
            self._wire_edge(plans, edge.producer, edge.consumer)

        calls = nx.DiGraph()
        for plan in plans.values():
            calls.add_node(plan.scope)
            calls.add_edges_from((plan.scope, child) for child in plan.children)
            calls.add_edges_from((plan.scope, up) for up in plan.upstream)
        parameters: dict[str, tuple[FlowParameter, ...]] = {}
        for scope in reversed(_flow_order(calls)):
            parameters[scope] = self._parameters(plans[scope], parameters)
        flows = {
            flow_name(scope): self._definition(plans[scope], parameters[scope])
            for scope in scopes
        }
        return Orchestration(
            graph=self.graph, flows=MappingProxyType(dict(sorted(flows.items())))
        )

    def _wire_edge(
        self, plans: dict[str, _FlowPlan], producer: str, consumer: str
    ) -> None:
        """Record, in every flow the edge crosses into, what waits for what."""
        producer_owner = self._owner(producer)
        scope: str | None = self._owner(consumer)
        while scope is not None:
            plan = plans[scope]
            contains_producer = producer == scope or is_within(producer, scope)
            if contains_producer:
                source = _unit_of(scope, producer)
            else:
                plan.upstream[producer_owner].add(producer)
                source = producer_owner
            plan.waits[_unit_of(scope, consumer)].add(source)
            if contains_producer:
                return
            scope = self._parser.get_parent(scope) if "." in scope else None

    def _owner(self, operation: str) -> str:
        return self._parser.get_parent(operation) or operation

    def _parameters(
        self, plan: _FlowPlan, known: Mapping[str, tuple[FlowParameter, ...]]
    ) -> tuple[FlowParameter, ...]:
        merged: dict[str, FlowParameter] = {}
        contributions: list[FlowParameter] = []
        for op in plan.direct_operations():
            for binding in self.graph.operations[op].bindings:
                if binding.is_flow_parameter:
                    p = binding.parameter
                    contributions.append(
                        FlowParameter(p.name, p.annotation, p.default, (op,))
                    )
        for scope in sorted({*plan.children, *plan.upstream}):
            contributions.extend(known[scope])
        for parameter in contributions:
            current = merged.get(parameter.name)
            merged[parameter.name] = (
                parameter
                if current is None
                else _merge_parameter(plan.scope, current, parameter)
            )
        return tuple(sorted(merged.values(), key=lambda p: (not p.required, p.name)))

    def _definition(
        self, plan: _FlowPlan, parameters: tuple[FlowParameter, ...]
    ) -> FlowDefinition:
        units: dict[str, Unit] = {}
        for producer_scope, needs in plan.upstream.items():
            name = flow_name(producer_scope)
            units[name] = Unit("upstream", name, needs=tuple(sorted(needs)))
        for child in plan.children:
            after = tuple(sorted(flow_name(s) for s in plan.waits.get(child, ())))
            units[flow_name(child)] = Unit("subflow", flow_name(child), after=after)
        for op in plan.direct_operations():
            arguments = tuple(
                Argument(
                    b.parameter.name,
                    tuple(
                        Source(self._source_unit(plan.scope, p), p) for p in b.producers
                    ),
                    b.parameter.many,
                )
                for b in self.graph.operations[op].bindings
            )
            units[op] = Unit("operation", op, arguments=arguments)

        order = nx.DiGraph()
        order.add_nodes_from(units)
        for unit in units.values():
            order.add_edges_from((before, unit.name) for before in unit.after)
            order.add_edges_from(
                (s.unit, unit.name) for a in unit.arguments for s in a.sources
            )
        ranked = nx.lexicographical_topological_sort(
            order, key=lambda n: (units[n].kind != "upstream", n)
        )
        members = set(plan.members)
        dependencies = {
            op: tuple(p for p in self.graph.operations[op].upstream if p in members)
            for op in plan.members
        }
        return FlowDefinition(
            name=flow_name(plan.scope),
            scope=plan.scope,
            standalone="." not in plan.scope and plan.scope in self.graph.operations,
            module=_module_of(plan.scope, self.graph),
            operations=tuple(plan.members),
            units=tuple(units[name] for name in ranked),
            parameters=parameters,
            dependencies=MappingProxyType(dependencies),
        )

    def _source_unit(self, scope: str, producer: str) -> str:
        if producer == scope or is_within(producer, scope):
            return _unit_key(scope, producer)
        return flow_name(self._owner(producer))


class _FlowPlan:
    """Mutable working state for one flow while the compiler wires edges."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.members: list[str] = []
        self.children: list[str] = []
        self.upstream: dict[str, set[str]] = defaultdict(set)  # producing scope → ops
        self.waits: dict[str, set[str]] = defaultdict(set)  # unit scope → source scopes

    def direct_operations(self) -> list[str]:
        if self.members == [self.scope]:
            return [self.scope]
        depth = self.scope.count(".") + 1
        return [op for op in self.members if op.count(".") == depth]


def _unit_of(scope: str, operation: str) -> str:
    """The scope-level name of the unit of ``scope`` that contains ``operation``."""
    if operation == scope:
        return operation
    depth = scope.count(".") + 2
    return ".".join(operation.split(".")[:depth])


def _unit_key(scope: str, operation: str) -> str:
    """Unit name used in FlowDefinition: the op itself or the child flow's name."""
    unit = _unit_of(scope, operation)
    return unit if unit == operation else flow_name(unit)


def _module_of(scope: str, graph: DataFlowGraph) -> str:
    if "." not in scope and scope in graph.operations:
        return STANDALONE_MODULE
    return flow_name(scope.split(".")[0])


def _check_names(operations: tuple[str, ...], namespaces: tuple[str, ...]) -> None:
    clash = sorted(set(operations) & set(namespaces))
    if clash:
        name = clash[0]
        inner = next(op for op in operations if is_within(op, name))
        raise GraphError(
            f"operation {name!r} has the same name as the namespace of {inner!r}; "
            f"rename the operation (e.g. {name + '.run'!r}) or the namespace"
        )
    seen: dict[str, str] = {}
    for scope in sorted([*namespaces, *(op for op in operations if "." not in op)]):
        other = seen.setdefault(flow_name(scope), scope)
        if other != scope:
            raise GraphError(
                f"{other!r} and {scope!r} would both generate the flow "
                f"{flow_name(scope)!r}; rename one of them"
            )


def _flow_order(calls: nx.DiGraph) -> list[str]:
    try:
        return list(nx.topological_sort(calls))
    except nx.NetworkXUnfeasible:
        pass  # only now pay for finding the cycle, to report it
    cycle = nx.find_cycle(calls)
    path = [flow_name(cycle[0][0]), *(flow_name(callee) for _, callee in cycle)]
    raise CycleError.from_path(
        "flows",
        path,
        "the operations are acyclic, but each of these flows would have to run the "
        "next one first (a flow runs its sub-namespaces and the flows producing its "
        "inputs); move the producing operation into its own namespace or next to its "
        "consumers",
    )


def _merge_parameter(
    scope: str, current: FlowParameter, new: FlowParameter
) -> FlowParameter:
    annotation = current.annotation
    if new.annotation is not Any:
        if annotation is not Any and annotation != new.annotation:
            raise GraphError(
                f"parameter {new.name!r} of {flow_name(scope)!r} has different types in "
                f"{current.operations[0]!r} ({_show(annotation)}) and "
                f"{new.operations[0]!r} ({_show(new.annotation)}); use one type or "
                f"rename one parameter"
            )
        annotation = new.annotation
    if not _same_default(current.default, new.default):
        raise GraphError(
            f"parameter {new.name!r} of {flow_name(scope)!r} has different defaults in "
            f"{current.operations[0]!r} ({_show_default(current.default)}) and "
            f"{new.operations[0]!r} ({_show_default(new.default)}); give both the same "
            f"default or rename one parameter"
        )
    operations = tuple(sorted({*current.operations, *new.operations}))
    return FlowParameter(new.name, annotation, current.default, operations)


def _same_default(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(type(a) is type(b) and a == b)
    except Exception:
        return False


def _show(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _show_default(default: Any) -> str:
    return "required" if default is EMPTY else repr(default)
