"""Generate readable Prefect modules from an :class:`Orchestration`.

Views are built here, fully sorted and laid out; the Jinja templates only loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import CodeType
from typing import Any

from pulpo.analysis.dataflow import OperationNode
from pulpo.analysis.signatures import EMPTY
from pulpo.orchestration.compiler import (
    STANDALONE_MODULE,
    Argument,
    FlowDefinition,
    Orchestration,
    Unit,
)
from pulpo.orchestration.graph_export import graph_json, graph_mermaid, json_text
from pulpo.orchestration.pysource import (
    Call,
    Imports,
    ListExpr,
    TypeRenderer,
    format_statement,
    identifier,
    import_sections,
    is_literal,
    keyword_arg,
    py_literal,
)
from pulpo.orchestration.sync_async import SyncAsyncDetector
from pulpo.orchestration.templating import render

ORCHESTRATION_PACKAGE = "run_cache.orchestration"
DOCUMENTS = "DOCUMENTS"  # the generated list of Beanie document models
PRELOADED = (
    ("prefect", "flow"),
    ("prefect", "task"),
    ("prefect.cache_policies", "NO_CACHE"),
    ("pulpo.runtime", "OperationGraph"),
    ("pulpo.runtime", "run_script"),
)
SCRIPT_MODE = (
    "pulpo.runtime.script_mode"  # must load before Prefect when run as a script
)


@dataclass(frozen=True)
class Block:
    """A top-level definition: its lines, already laid out."""

    lines: tuple[str, ...]


class PrefectCodeGenerator:
    """Turns flow definitions into Python modules under ``run_cache/orchestration``."""

    def __init__(
        self, orchestration: Orchestration, first_party: Iterable[str] = ()
    ) -> None:
        self.orchestration = orchestration
        self.first_party = {*first_party, "run_cache"}
        self._detector = SyncAsyncDetector()

    def generate_flows(self) -> dict[str, str]:
        """Every generated file, by path relative to ``run_cache/orchestration``."""
        files = {
            f"{module}.py": self.generate_module(module, flows)
            for module, flows in self.orchestration.modules.items()
        }
        files["__init__.py"] = render("package_init.py.j2", modules=sorted(files))
        files["graph.json"] = json_text(graph_json(self.orchestration))
        files["graph.mmd"] = graph_mermaid(self.orchestration)
        return files

    def generate_module(self, module: str, flows: tuple[FlowDefinition, ...]) -> str:
        """Source of one module holding ``flows`` and the tasks they run."""
        imports = Imports(reserved=self._module_globals(flows))
        imports.module(SCRIPT_MODE)
        for source, name in PRELOADED:
            imports.name(source, name)
        types = TypeRenderer(imports)
        operations = sorted(
            op
            for flow in flows
            for u in flow.units
            if u.kind == "operation"
            for op in [u.name]
        )
        tasks = [
            self._task(self.orchestration.graph.operations[op], imports, types)
            for op in operations
        ]
        constants: dict[str, str] = {}
        documents = ""
        if self._documents():
            names = [
                types.render(self.orchestration.graph.models[n].cls)
                for n in self._documents()
            ]
            documents = f"{DOCUMENTS} = [{', '.join(names)}]"
        flow_blocks = [self._flow(flow, imports, types, constants) for flow in flows]
        entry = sorted(flows, key=lambda f: (f.scope.count("."), f.name))
        main_call = format_statement(
            Call(
                imports.name("pulpo.runtime", "run_script"),
                tuple(identifier(f.name) for f in entry),
            ),
            indent=1,
        )
        if module == STANDALONE_MODULE:
            title = "Prefect flows for the standalone operations."
        else:
            title = f"Prefect flows for the `{flows[0].scope.split('.')[0]}` namespace."
        return render(
            "flow_module.py.j2",
            title=title,
            documents=documents,
            import_sections=self._import_sections(imports),
            constants=[f"{name} = {value}" for name, value in constants.items()],
            definitions=[*tasks, *flow_blocks],
            main=main_call,
        )

    def generate_task(self, operation: str) -> str:
        """Source of the Prefect task for one operation."""
        imports = Imports()
        block = self._task(
            self.orchestration.graph.operations[operation],
            imports,
            TypeRenderer(imports),
        )
        return "\n".join(block.lines) + "\n"

    def generate_flow(self, flow: str) -> str:
        """Source of one flow function."""
        definition = self.orchestration.flows[flow]
        imports = Imports(reserved=self._module_globals([definition]))
        block = self._flow(definition, imports, TypeRenderer(imports), {})
        return "\n".join(block.lines) + "\n"

    def _module_globals(self, flows: Iterable[FlowDefinition]) -> set[str]:
        names = {"asyncio", DOCUMENTS}
        for flow in flows:
            names.add(identifier(flow.name))
            names.update(
                f"{identifier(u.name)}_task"
                for u in flow.units
                if u.kind == "operation"
            )
        return names

    def _task(
        self, node: OperationNode, imports: Imports, types: TypeRenderer
    ) -> Block:
        spec = node.spec
        function = imports.name(spec.function.__module__, spec.function.__qualname__)
        options: list[str] = [f"name={py_literal(spec.name)}"]
        if spec.retries:
            options.append(f"retries={spec.retries}")
            delays = [round(d, 6) for d in spec.retry_delays]
            options.append(f"retry_delay_seconds={py_literal(delays)}")
        if spec.timeout is not None:
            options.append(f"timeout_seconds={py_literal(spec.timeout)}")
        if spec.tags:
            options.append(f"tags={py_literal(sorted(spec.tags))}")
        options.append(
            f"cache_policy={imports.name('prefect.cache_policies', 'NO_CACHE')}"
        )
        task_decorator = imports.name("prefect", "task")

        parameters = tuple(
            f"{b.parameter.name}: {types.render(b.parameter.annotation)}"
            for b in node.bindings
        )
        if node.output is None:
            output_name = types.render(EMPTY)  # nothing declared: Any
        else:
            output_name = types.render(self.orchestration.graph.models[node.output].cls)
        call_args = tuple(
            f"{b.parameter.name}={b.parameter.name}" for b in node.bindings
        )
        if self._detector.is_async(spec.function):
            call = Call(f"await {function}", call_args)
        else:
            to_thread = f"{imports.module('asyncio')}.to_thread"
            call = Call(f"await {to_thread}", (function, *call_args))
        lines = [
            *format_statement(Call(task_decorator, tuple(options)), 0, before="@"),
            *format_statement(
                Call(f"async def {identifier(spec.name)}_task", parameters),
                0,
                after=f" -> {output_name}:",
            ),
        ]
        if spec.description:
            lines.append(f"    {_docstring(spec.description)}")
        if node.output is None:
            lines.extend(format_statement(call, 1, before="return "))
        else:
            validate = imports.name("pulpo.runtime", "validate_output")
            lines.extend(format_statement(call, 1, before="result = "))
            lines.extend(
                format_statement(
                    Call(validate, (py_literal(spec.name), output_name, "result")),
                    1,
                    before="return ",
                )
            )
        return Block(tuple(lines))

    def _flow(
        self,
        flow: FlowDefinition,
        imports: Imports,
        types: TypeRenderer,
        constants: dict[str, str],
    ) -> Block:
        signature = []
        for p in flow.parameters:
            text = f"{p.name}: {types.render(p.annotation)}"
            if not p.required:
                default = self._default(
                    p.name, p.default, p.operations, imports, constants
                )
                text += f" = {default}"
            signature.append(text)
        flow_decorator = imports.name("prefect", "flow")
        returns = f"dict[str, {imports.name('typing', 'Any')}]"
        what = (
            f"the standalone operation `{flow.scope}`"
            if flow.standalone
            else f"every operation under `{flow.scope}`"
        )
        lines = [
            *format_statement(
                Call(flow_decorator, (f"name={py_literal(flow.name)}",)), 0, before="@"
            ),
            *format_statement(
                Call(f"async def {identifier(flow.name)}", tuple(signature)),
                0,
                after=f" -> {returns}:",
            ),
            f'    """Run {what}."""',
            *self._init_documents(flow, imports),
            f"    graph = {imports.name('pulpo.runtime', 'OperationGraph')}()",
        ]
        variables = _UnitNames(
            flow,
            self.orchestration,
            reserved={"graph", *(p.name for p in flow.parameters)} | imports.taken(),
        )
        for unit in flow.units:
            expr = self._unit_call(unit, flow, variables, imports)
            target = variables.assigned(unit.name)
            lines.extend(
                format_statement(expr, 1, before=f"{target} = " if target else "")
            )
        lines.append("    return await graph.results()")
        return Block(tuple(lines))

    def _documents(self) -> list[str]:
        """Names of the project's Beanie document datamodels, sorted."""
        return [
            n for n, spec in self.orchestration.graph.models.items() if spec.is_document
        ]

    def _init_documents(self, flow: FlowDefinition, imports: Imports) -> list[str]:
        if not self._documents():
            return []
        helper = imports.name("pulpo.runtime", "init_documents")
        required = (
            "" if uses_documents(self.orchestration, flow) else ", required=False"
        )
        return [f"    await {helper}({DOCUMENTS}{required})"]

    def _unit_call(
        self, unit: Unit, flow: FlowDefinition, variables: _UnitNames, imports: Imports
    ) -> Call:
        if unit.kind == "operation":
            args = tuple(self._argument(a, variables) for a in unit.arguments)
            return Call("graph.task", (f"{identifier(unit.name)}_task", *args))
        callee = self.orchestration.flows[unit.name]
        reference = self._flow_reference(callee, flow, imports)
        params = tuple(f"{p.name}={p.name}" for p in callee.parameters)
        if unit.kind == "subflow":
            after: tuple[ListExpr, ...] = ()
            if unit.after:
                after = (
                    ListExpr(
                        "after=", tuple(variables.use(name) for name in unit.after)
                    ),
                )
            return Call("graph.subflow", (reference, *after, *params))
        needs = ListExpr("", tuple(py_literal(op) for op in unit.needs))
        return Call("graph.upstream", (reference, needs, *params))

    def _flow_reference(
        self, callee: FlowDefinition, caller: FlowDefinition, imports: Imports
    ) -> str:
        if callee.module == caller.module:
            return identifier(callee.name)
        alias = imports.name(
            ORCHESTRATION_PACKAGE, callee.module, prefer=f"{callee.module}s"
        )
        return f"{alias}.{identifier(callee.name)}"

    def _argument(
        self, argument: Argument, variables: _UnitNames
    ) -> str | Call | ListExpr:
        if not argument.sources:
            return f"{argument.parameter}={argument.parameter}"
        values = tuple(
            variables.value(source.unit, source.operation)
            for source in argument.sources
        )
        if argument.many:
            return keyword_arg(argument.parameter, ListExpr("", values))
        return keyword_arg(argument.parameter, values[0])

    def _default(
        self,
        name: str,
        default: object,
        operations: tuple[str, ...],
        imports: Imports,
        constants: dict[str, str],
    ) -> str:
        """A literal, or a module constant read from the operation's own signature."""
        if is_literal(default):
            return py_literal(default)
        function = self.orchestration.graph.operations[operations[0]].spec.function
        local = imports.name(function.__module__, function.__qualname__)
        helper = imports.name("pulpo.runtime", "default_of")
        expression = f"{helper}({local}, {py_literal(name)})"
        for constant, existing in constants.items():
            if existing == expression:
                return constant
        base = f"{name.upper()}_DEFAULT"
        constant, counter = base, 2
        while constant in constants or constant in imports.taken():
            constant, counter = f"{base}_{counter}", counter + 1
        constants[constant] = expression
        return constant

    def _import_sections(self, imports: Imports) -> list[list[str]]:
        lines = [
            f"{line}  # noqa: F401 - configures Prefect when run as a script"
            if line == f"import {SCRIPT_MODE}"
            else line
            for line in imports.statements()
        ]
        return import_sections(lines, self.first_party)


class _UnitNames:
    """Local variable names for the units of one flow body, assigned only when used."""

    def __init__(
        self, flow: FlowDefinition, orchestration: Orchestration, reserved: set[str]
    ) -> None:
        self._names: dict[str, str] = {}
        self._used: set[str] = set()
        taken = set(reserved)
        for unit in flow.units:
            if unit.kind == "operation":
                base = unit.name.rsplit(".", 1)[-1]
            elif unit.kind == "subflow":
                base = orchestration.flows[unit.name].scope.rsplit(".", 1)[-1]
            else:
                base = identifier(orchestration.flows[unit.name].scope)
            name, counter = base, 2
            while name in taken:
                name = f"{base}_{counter}"
                counter += 1
            taken.add(name)
            self._names[unit.name] = name
            self._used.update(unit.after)
            self._used.update(s.unit for a in unit.arguments for s in a.sources)

    def use(self, unit: str) -> str:
        return self._names[unit]

    def value(self, unit: str, operation: str) -> str | Call:
        name = self._names[unit]
        return (
            name
            if unit == operation
            else Call(f"{name}.output", (py_literal(operation),))
        )

    def assigned(self, unit: str) -> str | None:
        return self._names[unit] if unit in self._used else None


def uses_documents(orchestration: Orchestration, flow: FlowDefinition) -> bool:
    """True when an operation of ``flow`` exchanges or names a Beanie document."""
    graph = orchestration.graph
    documents = {name for name, spec in graph.models.items() if spec.is_document}
    classes = {graph.models[name].cls for name in documents}
    return any(
        documents & {*graph.operations[op].inputs, graph.operations[op].output}
        or references_any(graph.operations[op].spec.function, classes)
        for op in flow.operations
    )


def needs_database(orchestration: Orchestration, flow: str) -> list[str]:
    """Flows that ``flow`` runs (itself included) whose operations use documents."""
    seen: set[str] = set()
    pending = [flow]
    needing = []
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        definition = orchestration.flows[name]
        if uses_documents(orchestration, definition):
            needing.append(name)
        pending.extend(u.name for u in definition.units if u.kind != "operation")
    return sorted(needing)


def references_any(function: Callable[..., Any], classes: set[type]) -> bool:
    """True when ``function``'s code names one of ``classes`` as a global.

    Lets a flow insist on a database for operations that query Beanie documents
    without exchanging them (e.g. an upsert that returns a summary).
    """
    namespace = getattr(function, "__globals__", {})
    codes = [getattr(function, "__code__", None)]
    while codes:
        code = codes.pop()
        if code is None:
            continue
        if any(namespace.get(name) in classes for name in code.co_names):
            return True
        codes.extend(c for c in code.co_consts if isinstance(c, CodeType))
    return False


def _docstring(text: str) -> str:
    first = (
        text.strip()
        .splitlines()[0]
        .strip()
        .replace("\\", "\\\\")
        .replace('"""', '\\"\\"\\"')
    )
    if first.endswith('"'):
        first += " "
    return f'"""{first}"""'
