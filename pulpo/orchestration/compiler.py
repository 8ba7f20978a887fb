"""Group operations into flows: one per namespace, one per standalone operation.

A flow runs every operation of its namespace's subtree as a task of its own run. When
those operations consume a datamodel produced outside the namespace, the flow also
runs the outside ("upstream") operations that this datamodel needs, and only those,
as tasks of the same run; the caller may pass the datamodel in instead, as an optional
flow parameter, and then its producers are skipped. No flow runs another flow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from pulpo.analysis.dataflow import DataFlowGraph
from pulpo.analysis.hierarchy import HierarchyParser, flow_name, is_within
from pulpo.analysis.signatures import EMPTY
from pulpo.errors import GraphError, ProjectError, did_you_mean
from pulpo.naming import snake_case

TaskRunnerName = Literal["threads", "processes", "dask"]
TASK_RUNNERS: tuple[str, ...] = get_args(TaskRunnerName)
STANDALONE_MODULE = "standalones"


@dataclass(frozen=True)
class FlowParameter:
    """A parameter of a flow, shared by every operation that names it.

    ``supplies`` is set on the optional parameters that replace the output of an
    upstream operation: when given, that operation (and what only it needs) is skipped.
    """

    name: str
    annotation: Any
    default: Any
    operations: tuple[str, ...]
    supplies: str | None = None

    @property
    def required(self) -> bool:
        return self.default is EMPTY


@dataclass(frozen=True)
class Source:
    """One producer whose output fills a parameter.

    ``supplied_by`` names the flow parameter that may replace it; ``mapped`` says
    the producer fans out, so its output is a list.
    """

    operation: str
    supplied_by: str | None = None
    mapped: bool = False


@dataclass(frozen=True)
class Argument:
    """How one parameter of an operation is filled.

    No sources: the flow parameter of the same name. ``many``: a list of every
    source's output. ``field``: fan-out over that list field of the one source.
    """

    parameter: str
    sources: tuple[Source, ...] = ()
    many: bool = False
    field: str | None = None


@dataclass(frozen=True)
class Step:
    """One operation a flow runs, with where each of its arguments comes from.

    An ``upstream`` step lies outside the flow's namespace; it runs unless every
    parameter in ``skipped_when_given`` is passed.
    """

    operation: str
    arguments: tuple[Argument, ...]
    upstream: bool = False
    skipped_when_given: tuple[str, ...] = ()


@dataclass(frozen=True)
class Delegation:
    """The flow's whole upstream is exactly what another flow runs: its body is
    awaited (as a plain coroutine, in the same run) instead of repeating its steps.

    ``supplies`` maps each needed operation of that flow to the parameter that may
    replace its output; the call is skipped when all of them are given.
    """

    flow: str
    module: str
    parameters: tuple[str, ...]
    supplies: Mapping[str, str]


@dataclass(frozen=True)
class FlowDefinition:
    """A flow ready for code generation."""

    name: str
    scope: str
    standalone: bool
    module: str
    operations: tuple[str, ...]
    steps: tuple[Step, ...]
    parameters: tuple[FlowParameter, ...]
    task_runner: TaskRunnerName = "threads"
    delegation: Delegation | None = None
    needs: tuple[str, ...] = ()
    timeout: float | None = None  # seconds a run may take (Prefect's timeout_seconds)

    @property
    def upstream(self) -> tuple[str, ...]:
        """Operations outside the namespace that this flow's body runs as its own
        steps for its inputs (none when it awaits ``delegation.flow`` instead)."""
        return self.needs


@dataclass(frozen=True)
class TaskRunnerConfig:
    """Which task runner each flow uses: a default and per-flow choices."""

    default: TaskRunnerName = "threads"
    per_flow: Mapping[str, TaskRunnerName] = field(default_factory=dict)

    def for_scope(self, scope: str) -> TaskRunnerName:
        """The runner of the flow of ``scope``, else of its nearest enclosing one."""
        parts = scope.split(".")
        for depth in range(len(parts), 0, -1):
            runner = self.per_flow.get(flow_name(".".join(parts[:depth])))
            if runner is not None:
                return runner
        return self.default


@dataclass(frozen=True)
class FlowTimeouts:
    """Seconds a run of each flow may take: per flow, else a default (None: no limit).

    Not inherited by sub-namespace flows: a timeout bounds the run it is set for.
    """

    default: float | None = None
    per_flow: Mapping[str, float] = field(default_factory=dict)

    def of(self, flow: str) -> float | None:
        return self.per_flow.get(flow, self.default)


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
        """The innermost flow whose namespace holds ``operation``."""
        parent, _, _ = operation.rpartition(".")
        return self.flows[flow_name(parent or operation)]


class OrchestrationCompiler:
    """Builds the :class:`Orchestration` for an analysed :class:`DataFlowGraph`."""

    def __init__(
        self,
        graph: DataFlowGraph,
        task_runners: TaskRunnerConfig | None = None,
        timeouts: FlowTimeouts | None = None,
    ) -> None:
        self.graph = graph
        self.task_runners = task_runners or TaskRunnerConfig()
        self.timeouts = timeouts or FlowTimeouts()
        self._parser = HierarchyParser()
        self._position = {op: index for index, op in enumerate(graph.order)}

    def compile(self) -> Orchestration:
        """Group, wire and check the flows.

        Raises:
            GraphError: names that collide once turned into flows, or parameters that
                mean different things in operations sharing a flow.
            ProjectError: a task runner or timeout configured for a flow that does
                not exist.
        """
        operations = tuple(self.graph.operations)
        namespaces = self._parser.namespaces(operations)
        _check_names(operations, namespaces)
        members: dict[str, list[str]] = {
            scope: []
            for scope in [*namespaces, *(o for o in operations if "." not in o)]
        }
        for op in operations:
            for scope in [*self._parser.parse(op).namespaces, op]:
                if scope in members:
                    members[scope].append(op)
        self._members = {scope: set(ops) for scope, ops in members.items()}
        self._ordered = {scope: ops for scope, ops in members.items()}
        self._compiled: dict[str, FlowDefinition] = {}
        flows = {flow_name(scope): self._flow(scope) for scope in sorted(members)}
        configured = {*self.task_runners.per_flow, *self.timeouts.per_flow}
        unknown = sorted(configured - set(flows))
        if unknown:
            raise ProjectError(
                f"[tool.pulpo.flows.{unknown[0]}] names no flow"
                f"{did_you_mean(unknown[0], flows)}; flows: {', '.join(flows)}"
            )
        return Orchestration(
            graph=self.graph, flows=MappingProxyType(dict(sorted(flows.items())))
        )

    def _flow(self, scope: str) -> FlowDefinition:
        if scope in self._compiled:
            return self._compiled[scope]
        operations = self._ordered[scope]
        inside = self._members[scope]
        feeding = sorted(
            {
                p
                for op in inside
                for p in self.graph.operations[op].upstream
                if p not in inside
            }
        )
        supplying = self._supplying_parameters(feeding)
        runner = self.task_runners.for_scope(scope)
        delegate = self._delegate(feeding, runner)
        if delegate is not None:
            upstream: set[str] = set()
            skipped_when_given: dict[str, tuple[str, ...]] = {}
        else:
            upstream = self._upstream_of(inside)
            skipped_when_given = self._skip_conditions(upstream, supplying)
        steps = []
        for op in sorted(inside | upstream, key=self._position.__getitem__):
            node = self.graph.operations[op]
            arguments = tuple(
                Argument(
                    b.parameter.name,
                    tuple(
                        Source(
                            producer,
                            supplying.get(producer) if op in inside else None,
                            self.graph.operations[producer].mapped,
                        )
                        for producer in b.producers
                    ),
                    b.parameter.many,
                    b.parameter.field,
                )
                for b in node.bindings
            )
            steps.append(
                Step(
                    op,
                    arguments,
                    upstream=op in upstream,
                    skipped_when_given=skipped_when_given.get(op, ()),
                )
            )
        delegation = None
        inherited: tuple[FlowParameter, ...] = ()
        needs = tuple(sorted(upstream))
        if delegate is not None:
            inherited = tuple(p for p in delegate.parameters if not p.supplies)
            delegation = Delegation(
                delegate.name,
                delegate.module,
                tuple(p.name for p in inherited),
                MappingProxyType(dict(supplying)),
            )
        definition = FlowDefinition(
            name=flow_name(scope),
            scope=scope,
            standalone="." not in scope and scope in self.graph.operations,
            module=_module_of(scope, self.graph),
            operations=tuple(operations),
            steps=tuple(steps),
            parameters=self._parameters(scope, steps, supplying, inherited),
            task_runner=runner,
            delegation=delegation,
            needs=needs,
            timeout=self.timeouts.of(flow_name(scope)),
        )
        self._compiled[scope] = definition
        return definition

    def _delegate(
        self, feeding: list[str], runner: TaskRunnerName
    ) -> FlowDefinition | None:
        """The flow whose steps are exactly the upstream of ``feeding``, if any.

        Its namespace is the deepest one holding every feeding operation; it
        qualifies when each of its members is among what they need (walking only
        through its members), so running it runs nothing more. This keeps a flow
        deep in a chain of namespaces from repeating every step before it.
        """
        if not feeding:
            return None
        prefix = _common_namespace(feeding)
        if prefix is None or prefix not in self._members:
            return None
        members = self._members[prefix]
        if self._producers_within(feeding, members.__contains__) != members:
            return None
        delegate = self._flow(prefix)
        return delegate if delegate.task_runner == runner else None

    def _upstream_of(self, inside: set[str]) -> set[str]:
        """Outside operations the flow needs: producers of its inputs, transitively."""
        outside = inside.__contains__
        feeding = [p for op in inside for p in self.graph.operations[op].upstream]
        return self._producers_within(
            [p for p in feeding if not outside(p)], lambda op: not outside(op)
        )

    def _producers_within(
        self, start: Iterable[str], keep: Callable[[str], bool]
    ) -> set[str]:
        """``start`` and, transitively, the producers of each that ``keep`` accepts."""
        reached: set[str] = set()
        pending = list(start)
        while pending:
            op = pending.pop()
            if op in reached:
                continue
            reached.add(op)
            pending.extend(p for p in self.graph.operations[op].upstream if keep(p))
        return reached

    def _supplying_parameters(self, feeding: list[str]) -> dict[str, str]:
        """Upstream operation → the flow parameter that may replace its output."""
        by_model: dict[str, list[str]] = defaultdict(list)
        for producer in feeding:
            by_model[self.graph.operations[producer].output or ""].append(producer)
        names = {}
        for model, producers in by_model.items():
            base = snake_case(model)
            for producer in producers:
                names[producer] = (
                    base if len(producers) == 1 else f"{base}_from_{_ident(producer)}"
                )
        return names

    def _skip_conditions(
        self, upstream: set[str], supplying: Mapping[str, str]
    ) -> dict[str, tuple[str, ...]]:
        """Upstream operation → the parameters that, all given, make it unneeded."""
        serves: dict[str, set[str]] = defaultdict(set)
        for producer, parameter in supplying.items():
            for op in self._producers_within([producer], upstream.__contains__):
                serves[op].add(parameter)
        return {op: tuple(sorted(parameters)) for op, parameters in serves.items()}

    def _parameters(
        self,
        scope: str,
        steps: Iterable[Step],
        supplying: Mapping[str, str],
        inherited: Iterable[FlowParameter] = (),
    ) -> tuple[FlowParameter, ...]:
        merged: dict[str, FlowParameter] = {}
        for parameter in inherited:
            merged[parameter.name] = parameter
        for step in steps:
            for binding in self.graph.operations[step.operation].bindings:
                if not binding.is_flow_parameter:
                    continue
                p = binding.parameter
                if p.name.startswith("_"):
                    raise GraphError(
                        f"parameter {p.name!r} of {step.operation!r} would be a "
                        f"parameter of {flow_name(scope)!r}, and Prefect rejects "
                        f"flow parameters whose names start with an underscore; "
                        f"rename it"
                    )
                new = FlowParameter(p.name, p.annotation, p.default, (step.operation,))
                current = merged.get(p.name)
                merged[p.name] = (
                    new if current is None else _merge_parameter(scope, current, new)
                )
        plain = sorted(merged.values(), key=lambda p: (not p.required, p.name))
        optional = []
        for producer, name in sorted(supplying.items(), key=lambda item: item[1]):
            if name in merged:
                raise GraphError(
                    f"flow {flow_name(scope)!r} has a parameter {name!r} and takes "
                    f"{self.graph.operations[producer].output} from {producer!r} under "
                    f"the same name; rename the parameter"
                )
            node = self.graph.operations[producer]
            model: Any = self.graph.models[node.output or ""].cls
            annotation = (list[model] if node.mapped else model) | None
            optional.append(FlowParameter(name, annotation, None, (), producer))
        return (*plain, *optional)


def _common_namespace(operations: list[str]) -> str | None:
    """The deepest namespace holding all ``operations`` (a standalone: itself)."""
    if len(operations) == 1 and "." not in operations[0]:
        return operations[0]
    parts = [op.split(".")[:-1] for op in operations]
    common: list[str] = []
    for segments in zip(*parts, strict=False):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    return ".".join(common) or None


def _ident(name: str) -> str:
    return name.replace(".", "_")


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
            f"rename the operation (e.g. {name + '.run'!r}) or the namespace",
            operation=name,
        )
    seen: dict[str, str] = {}
    for scope in sorted([*namespaces, *(op for op in operations if "." not in op)]):
        # Names equal but for case clash as module files on case-insensitive disks
        # and as the API's request models (ETL_flow and etl_flow: EtlFlowRun).
        name = flow_name(scope)
        pascal = "".join(part.title() for part in name.split("_"))  # as pulpo.api
        others = {seen.setdefault(key, scope) for key in (name.casefold(), pascal)}
        other = min(others - {scope}, default=scope)
        if other != scope:
            problem = (
                f"both generate the flow {name!r}"
                if flow_name(other) == name
                else f"generate the flows {flow_name(other)!r} and {name!r}, whose "
                f"modules and API models clash"
            )
            raise GraphError(
                f"{other!r} and {scope!r} would {problem}; rename one of them"
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
