"""Generate readable Prefect modules from an :class:`Orchestration`.

Python builds small, sorted views (names, types, argument expressions); the template
``flow_module.py.j2`` shows the shape of each module and ruff lays it out.
"""

from __future__ import annotations

import keyword
import sys
import textwrap
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import CodeType, FunctionType, ModuleType
from typing import Any

from pulpo.analysis.dataflow import OperationNode
from pulpo.orchestration.compiler import (
    STANDALONE_MODULE,
    Argument,
    FlowDefinition,
    Orchestration,
    Source,
    Step,
)
from pulpo.orchestration.formatting import FormatJob
from pulpo.orchestration.graph_export import graph_json, graph_mermaid, json_text
from pulpo.orchestration.pysource import (
    Imports,
    TypeRenderer,
    identifier,
    is_literal,
    py_literal,
)
from pulpo.orchestration.sync_async import SyncAsyncDetector
from pulpo.orchestration.templating import render

ORCHESTRATION_PACKAGE = "run_cache.orchestration"
SCRIPT_MODE = "pulpo.runtime.script_mode"  # must load before Prefect as a script
RUNNER_FACTORIES = {"processes": "process_pool", "dask": "dask_cluster"}


@dataclass  # not frozen: one per operation, and frozen ones cost twice as much to make
class TaskView:
    """One ``@task`` function: the operation's call with its policy."""

    function: str
    decorator: str
    options: list[str]
    parameters: list[str]
    returns: str
    docstring: str
    is_async: bool
    init_documents: str
    body: str


@dataclass  # not frozen: one per operation (see TaskView)
class StepView:
    """One operation started in a flow body, as an asyncio task in ``variable``."""

    variable: str
    start: str
    when_ready: str = ""
    returns: str = ""
    call: str = ""


@dataclass(frozen=True)
class BlockView:
    """Steps that run unless the flow parameters in ``guard`` are all given."""

    guard: str
    steps: list[StepView]
    variables: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FlowView:
    name: str
    decorator: str
    signature: list[str]
    returns: str
    result_fields: list[tuple[str, str]]
    result_class: bool
    docstring: list[str]
    blocks: list[BlockView]
    upstream_list: str
    resource_scope: str
    waited: list[str]
    results: list[tuple[str, str]]


class PrefectCodeGenerator:
    """Turns flow definitions into Python modules under ``run_cache/orchestration``."""

    def __init__(
        self, orchestration: Orchestration, first_party: Iterable[str] = ()
    ) -> None:
        self.orchestration = orchestration
        self.first_party = {*first_party, "run_cache"}
        self._detector = SyncAsyncDetector()
        self._document_users = document_users(orchestration)
        self._document_classes = [
            spec.cls for spec in orchestration.graph.models.values() if spec.is_document
        ]

    def generate_flows(self) -> dict[str, str]:
        """Every generated file, by path relative to ``run_cache/orchestration``."""
        files = {
            f"{module}.py": self.generate_module(module, flows)
            for module, flows in self.orchestration.modules.items()
        }
        files["__init__.py"] = render("package_init.py.j2", modules=sorted(files))
        # ruff works on another core while this thread writes the graph files.
        with FormatJob(files, self.first_party) as formatting:
            graph = json_text(graph_json(self.orchestration))
            formatting.format()
            mermaid = graph_mermaid(self.orchestration)
            return {**formatting.result(), "graph.json": graph, "graph.mmd": mermaid}

    def generate_module(self, module: str, flows: tuple[FlowDefinition, ...]) -> str:
        """Source of one module holding ``flows`` and the tasks they run (unformatted)."""
        graph = self.orchestration.graph
        operations = sorted({s.operation for f in flows for s in f.steps})
        parameters = {
            b.parameter.name for op in operations for b in graph.operations[op].bindings
        } | {p.name for f in flows for p in f.parameters}
        imports = Imports(reserved={*parameters, *(f.name for f in flows)})
        imports.module(SCRIPT_MODE)
        types = TypeRenderer(imports)
        # (operation, runs through a task runner): a flow on the event loop awaits
        # async tasks, one on a task runner submits sync ones; a module whose flows
        # differ gets both.
        shapes = sorted(
            {(s.operation, f.task_runner != "threads") for f in flows for s in f.steps}
        )
        both = {op for op, submitted in shapes if submitted} & {
            op for op, submitted in shapes if not submitted
        }
        task_names = {
            (op, submitted): imports.reserve(
                f"{identifier(op)}_{'pool_task' if submitted and op in both else 'task'}"
            )
            for op, submitted in shapes
        }
        documents_name = ""
        if any(self._uses_documents(op) for op in operations):
            documents_name = imports.reserve("DOCUMENTS")
        results = {f.name: imports.reserve(f"{_pascal(f.name)}Result") for f in flows}
        typed_dict = imports.name("typing", "TypedDict")
        any_name = (
            imports.name("typing", "Any")
            if any(f.upstream or f.delegation for f in flows)
            else ""
        )
        asyncio_name = imports.module("asyncio")
        constants: dict[str, str] = {}
        tasks = [
            self._task(
                graph.operations[op], name, shape, imports, types, documents_name
            )
            for (op, shape), name in sorted(task_names.items())
        ]
        flow_views = [
            self._flow(flow, task_names, results[flow.name], imports, types, constants)
            for flow in flows
        ]
        run_script = imports.name("pulpo.runtime", "run_script")
        wait_all = imports.name("pulpo.runtime", "wait_all")  # each flow body's end
        documents = (
            [types.render(cls) for cls in self._document_classes]
            if documents_name
            else []
        )
        entry = sorted(flows, key=lambda f: (f.scope.count("."), f.name))
        if module == STANDALONE_MODULE:
            title = "Prefect flows for the standalone operations."
        else:
            title = f"Prefect flows for the `{flows[0].scope.split('.')[0]}` namespace."
        return render(
            "flow_module.py.j2",
            title=title,
            imports=[
                f"{line}  # noqa: F401 - configures Prefect when run as a script"
                if line == f"import {SCRIPT_MODE}"
                else line
                for line in imports.statements()
            ],
            documents_name=documents_name,
            documents=documents,
            constants=list(constants.items()),
            tasks=tasks,
            flows=flow_views,
            run_script=run_script,
            typed_dict=typed_dict,
            any=any_name,
            asyncio=asyncio_name,
            wait_all=wait_all,
            entry=[f.name for f in entry],
        )

    def _task(
        self,
        node: OperationNode,
        function_name: str,
        submitted: bool,
        imports: Imports,
        types: TypeRenderer,
        documents: str,
    ) -> TaskView:
        spec = node.spec
        options = [f"name={py_literal(spec.name)}"]
        if spec.retries:
            delays = [round(d, 6) for d in spec.retry_delays]
            options += [
                f"retries={spec.retries}",
                f"retry_delay_seconds={py_literal(delays)}",
            ]
            if spec.retry_jitter:
                options.append(f"retry_jitter_factor={py_literal(spec.retry_jitter)}")
            if spec.retry_on:
                condition = imports.name("pulpo.runtime", "RetryOnlyOn")
                kinds = ", ".join(
                    kind.__qualname__
                    if kind.__module__ == "builtins"
                    else imports.name(kind.__module__, kind.__qualname__)
                    for kind in spec.retry_on
                )
                options.append(f"retry_condition_fn={condition}({kinds})")
        if spec.timeout is not None:
            options.append(f"timeout_seconds={py_literal(spec.timeout)}")
        if spec.tags:
            options.append(f"tags={py_literal(sorted(spec.tags))}")
        options += _cache_options(node, self.orchestration, imports, types)
        parameters = [
            f"{b.parameter.name}: {types.render(b.parameter.annotation)}"
            for b in node.bindings
        ]
        function = imports.name(spec.function.__module__, spec.function.__qualname__)
        arguments = ", ".join(
            [f"{b.parameter.name}={b.parameter.name}" for b in node.bindings]
            + self._resource_arguments(node, submitted, imports)
        )
        uses_documents = bool(documents) and self._uses_documents(spec.name)
        call_async = self._detector.is_async(spec.function)
        if submitted:
            call = f"{function}({arguments})"
            if call_async:
                runner = imports.name("pulpo.runtime", "run_coroutine")
                extra = f", {documents}" if uses_documents else ""
                call = f"{runner}({call}{extra})"
        elif call_async:
            call = f"await {function}({arguments})"
        else:
            in_thread = imports.name("pulpo.runtime", "in_thread")
            call = f"await {in_thread}({', '.join([function, arguments] if arguments else [function])})"
        if node.output is None:
            returns = types.render(_return_annotation(spec.function))
            body = f"return {call}"
        else:
            returns = types.render(self.orchestration.graph.models[node.output].cls)
            validate = imports.name("pulpo.runtime", "validate_output")
            body = f"return {validate}({py_literal(spec.name)}, {returns}, {call})"
        init = ""
        if uses_documents and not submitted:
            init = (
                f"await {imports.name('pulpo.runtime', 'init_documents')}({documents})"
            )
        return TaskView(
            function=function_name,
            decorator=imports.name("prefect", "task"),
            options=options,
            parameters=parameters,
            returns=returns,
            docstring=_docstring(spec.description) if spec.description else "",
            is_async=not submitted,
            init_documents=init,
            body=body,
        )

    def _resource_arguments(
        self, node: OperationNode, submitted: bool, imports: Imports
    ) -> list[str]:
        """``parameter=<the resource>`` for each parameter that asks for one."""
        if not node.resources:
            return []
        use = "use_resource_in_process" if submitted else "use_resource"
        opener = f"{'' if submitted else 'await '}{imports.name('pulpo.runtime', use)}"
        arguments = []
        for parameter, name in node.resources:
            provider = self.orchestration.graph.resources[name].provider
            alias = imports.name(provider.__module__, provider.__qualname__)
            arguments.append(f"{parameter}={opener}({alias})")
        return arguments

    def _opens_run_resources(self, flow: FlowDefinition) -> bool:
        """Whether tasks of ``flow`` open run-scoped resources on its event loop."""
        graph = self.orchestration.graph
        return flow.task_runner == "threads" and any(
            graph.resources[name].scope == "run"
            for step in flow.steps
            for _, name in graph.operations[step.operation].resources
        )

    def _flow(
        self,
        flow: FlowDefinition,
        task_names: dict[tuple[str, bool], str],
        result_name: str,
        imports: Imports,
        types: TypeRenderer,
        constants: dict[str, str],
    ) -> FlowView:
        signature = []
        for p in flow.parameters:
            text = f"{p.name}: {types.render(p.annotation)}"
            if not p.required:
                text += f" = {self._default(p.name, p.default, p.operations, imports, constants)}"
            signature.append(text)
        decorator = f"{imports.name('prefect', 'flow')}(name={py_literal(flow.name)}"
        if flow.task_runner != "threads":
            factory = imports.name("pulpo.runtime", RUNNER_FACTORIES[flow.task_runner])
            decorator += f", task_runner={factory}(__name__)"
        if flow.timeout is not None:
            decorator += f", timeout_seconds={py_literal(flow.timeout)}"
        decorator += ")"
        submitted = flow.task_runner != "threads"
        asyncio_name = imports.module("asyncio")
        gather = ""
        if any(
            self.orchestration.graph.operations[s.operation].mapped for s in flow.steps
        ):
            gather = imports.name("pulpo.runtime", "gather_limited")
        runners = {
            s.operation: self._runner(s.operation, submitted, imports)
            for s in flow.steps
        }
        wait_all = imports.name("pulpo.runtime", "wait_all")
        # Locals may shadow imports the body does not use (user functions and models).
        local = _Locals(
            {asyncio_name, gather, wait_all, *task_names.values()}
            | {name for _, names in runners.values() for name in names}
            | {p.name for p in flow.parameters}
        )
        variables = {
            s.operation: local.claim(self._variable(flow, s)) for s in flow.steps
        }
        supplied = {p.supplies: p.name for p in flow.parameters if p.supplies}
        values = {op: f"await {name}" for op, name in variables.items()}
        blocks: list[BlockView] = []
        upstream_list = (
            local.claim("upstream") if flow.upstream or flow.delegation else ""
        )
        delegation = flow.delegation
        if delegation is not None:
            target = self.orchestration.flows[delegation.flow]
            holder = local.claim(identifier(target.scope.rsplit(".", 1)[-1]))
            reference = delegation.flow
            if target.module != flow.module:
                alias = imports.name(
                    ORCHESTRATION_PACKAGE, target.module, prefer=f"{target.module}s"
                )
                reference = f"{alias}.{delegation.flow}"
            arguments = ", ".join(f"{p}={p}" for p in delegation.parameters)
            start = f"{asyncio_name}.create_task({reference}.fn({arguments}))"
            guard = " or ".join(
                f"{name} is None" for name in sorted(set(delegation.supplies.values()))
            )
            blocks.append(BlockView(guard, [StepView(holder, start)], [holder]))
            values.update(
                {
                    op: f"(await {holder})[{py_literal(op)}]"
                    for op in delegation.supplies
                }
            )
        for step in flow.steps:
            view = self._step(
                step,
                values,
                supplied,
                task_names[(step.operation, submitted)],
                runners[step.operation][0],
                asyncio_name,
                local,
                types,
                gather,
            )
            guard = " or ".join(f"{name} is None" for name in step.skipped_when_given)
            if not blocks or blocks[-1].guard != guard:
                blocks.append(BlockView(guard, []))
            blocks[-1].steps.append(view)
            if guard:
                blocks[-1].variables.append(variables[step.operation])
        members = [s.operation for s in flow.steps if not s.upstream]
        result_fields = [
            (py_literal(op), self._output_type(op, types)) for op in sorted(members)
        ]
        what = (
            f"the standalone operation `{flow.scope}`"
            if flow.standalone
            else f"every operation under `{flow.scope}`"
        )
        docstring = [f"Run {what}."]
        if supplied:
            given = ", ".join(f"`{name}`" for name in sorted(supplied.values()))
            docstring += [
                "",
                *textwrap.wrap(
                    (
                        f"`{flow.delegation.flow}` runs in this flow run too: its "
                        f"operations are exactly what `{flow.scope}` needs from "
                        f"outside; pass {given} to skip it."
                    )
                    if flow.delegation
                    else (
                        f"Operations outside `{flow.scope}` also run, only to produce "
                        f"what it needs; pass {given} to skip them."
                    ),
                    width=84,
                ),
                "",
            ]
        return FlowView(
            name=flow.name,
            decorator=decorator,
            signature=signature,
            returns=result_name,
            result_fields=result_fields,
            # Dotted operation names need TypedDict's functional form.
            result_class=all(
                op.isidentifier() and not keyword.iskeyword(op) for op in members
            ),
            docstring=docstring,
            blocks=blocks,
            upstream_list=upstream_list,
            resource_scope=imports.name("pulpo.runtime", "run_resources")
            if self._opens_run_resources(flow)
            else "",
            waited=[variables[op] for op in members],
            results=[(py_literal(op), variables[op]) for op in sorted(members)],
        )

    def _step(
        self,
        step: Step,
        values: dict[str, str],
        supplied: dict[str, str],
        task: str,
        runner: str,
        asyncio_name: str,
        local: _Locals,
        types: TypeRenderer,
        gather: str,
    ) -> StepView:
        variable = values[step.operation].removeprefix("await ")
        node = self.orchestration.graph.operations[step.operation]
        wired = [a for a in step.arguments if a.sources]
        if not wired:
            arguments = ", ".join(
                f"{a.parameter}={a.parameter}" for a in step.arguments
            )
            call = f"{runner}({', '.join([task, arguments] if arguments else [task])})"
            return StepView(variable, f"{asyncio_name}.create_task({call})")
        when_ready = local.claim(f"{variable}_when_ready")
        returns = self._output_type(step.operation, types)
        fan_out = next((a for a in step.arguments if a.field), None)
        if fan_out is None:
            arguments = ", ".join(
                f"{a.parameter}={self._value(a, values, supplied)}"
                for a in step.arguments
            )
            call = f"return await {runner}({task}, {arguments})"
        else:
            item = local.claim("item")
            arguments = ", ".join(
                f"{a.parameter}={item if a is fan_out else self._value(a, values, supplied)}"
                for a in step.arguments
            )
            source = self._single(fan_out.sources[0], values, supplied)
            limit = node.spec.max_concurrency
            call = (
                f"return await {gather}(({runner}({task}, {arguments}) for {item} in "
                f"({source}).{fan_out.field}), limit={limit})"
            )
        return StepView(
            variable,
            f"{asyncio_name}.create_task({when_ready}())",
            when_ready=when_ready,
            returns=returns,
            call=call,
        )

    def _runner(
        self, operation: str, submitted: bool, imports: Imports
    ) -> tuple[str, set[str]]:
        """What runs the operation's task: ``run_task`` (``run_submitted`` on a task
        runner), or ``Hooks(on_failure=f).run_task`` for an operation with hooks;
        with the names the expression uses."""
        method = "run_submitted" if submitted else "run_task"
        spec = self.orchestration.graph.operations[operation].spec
        hooks = {
            kind: imports.name(hook.__module__, hook.__qualname__)
            for kind, hook in (
                ("on_failure", spec.on_failure),
                ("on_completion", spec.on_completion),
            )
            if hook is not None
        }
        if not hooks:
            runner = imports.name("pulpo.runtime", method)
            return runner, {runner}
        hooks_class = imports.name("pulpo.runtime", "Hooks")
        arguments = ", ".join(f"{kind}={name}" for kind, name in hooks.items())
        return f"{hooks_class}({arguments}).{method}", {hooks_class, *hooks.values()}

    def _value(
        self, argument: Argument, values: dict[str, str], supplied: dict[str, str]
    ) -> str:
        if not argument.sources:
            return argument.parameter
        if not argument.many:
            return self._single(argument.sources[0], values, supplied)
        if len(argument.sources) == 1 and argument.sources[0].mapped:
            return self._single(argument.sources[0], values, supplied)
        items = [
            f"*({self._single(s, values, supplied)})"
            if s.mapped
            else self._single(s, values, supplied)
            for s in argument.sources
        ]
        return f"[{', '.join(items)}]"

    @staticmethod
    def _single(
        source: Source, values: dict[str, str], supplied: dict[str, str]
    ) -> str:
        value = values[source.operation]
        if source.supplied_by:
            name = source.supplied_by
            return f"{name} if {name} is not None else {value}"
        return value

    def _output_type(self, operation: str, types: TypeRenderer) -> str:
        node = self.orchestration.graph.operations[operation]
        if node.output is None:
            single = types.render(_return_annotation(node.spec.function))
        else:
            single = types.render(self.orchestration.graph.models[node.output].cls)
        return f"list[{single}]" if node.mapped else single

    @staticmethod
    def _variable(flow: FlowDefinition, step: Step) -> str:
        if step.upstream or flow.standalone:
            return identifier(step.operation)
        return identifier(step.operation[len(flow.scope) + 1 :])

    def _uses_documents(self, operation: str) -> bool:
        return operation in self._document_users

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
        constant = imports.reserve(f"{name.upper()}_DEFAULT")
        constants[constant] = expression
        return constant


class _Locals:
    """Unique local names inside one flow body."""

    def __init__(self, taken: set[str]) -> None:
        self._taken = set(taken)

    def claim(self, base: str) -> str:
        name, counter = base, 2
        while name in self._taken:
            name, counter = f"{base}_{counter}", counter + 1
        self._taken.add(name)
        return name


def document_users(orchestration: Orchestration) -> frozenset[str]:
    """Operations that exchange Beanie documents or name a document class."""
    graph = orchestration.graph
    documents = {name for name, spec in graph.models.items() if spec.is_document}
    if not documents:
        return frozenset()
    classes = [graph.models[name].cls for name in documents]
    return frozenset(
        name
        for name, node in graph.operations.items()
        if documents & {*node.inputs, node.output}
        or references_any(node.spec.function, classes)
    )


def flows_needing_database(orchestration: Orchestration) -> dict[str, list[str]]:
    """For every flow, the operations it runs whose code uses Beanie documents."""
    users = document_users(orchestration)
    needing: dict[str, list[str]] = {}

    def of(flow: str) -> list[str]:
        if flow not in needing:
            definition = orchestration.flows[flow]
            own = {s.operation for s in definition.steps if s.operation in users}
            if definition.delegation is not None:
                own.update(of(definition.delegation.flow))
            needing[flow] = sorted(own)
        return needing[flow]

    for flow in orchestration.flows:
        of(flow)
    return needing


def references_any(function: Callable[..., Any], classes: list[type]) -> bool:
    """True when ``function``'s code reaches one of ``classes``.

    Follows module attributes (``models.JobRecord``), imports inside the function, and
    the functions and classes of the same package that it uses (helpers, static
    methods), so that a flow sets up the database for operations that query Beanie
    documents without exchanging them.
    """
    targets = {id(cls) for cls in classes}  # identity: globals may be unhashable
    package = getattr(function, "__module__", "").split(".")[0]
    seen: set[int] = set()
    pending: list[Any] = [function]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, type):
            pending.extend(_functions_of(current))
            continue
        namespace = getattr(current, "__globals__", {})
        for code in _code_objects(getattr(current, "__code__", None)):
            names = code.co_names
            for name in names:
                value = namespace.get(name, sys.modules.get(name))
                if id(value) in targets:
                    return True
                if isinstance(value, ModuleType):
                    attributes = [getattr(value, other, None) for other in names]
                    if any(id(attribute) in targets for attribute in attributes):
                        return True
                    pending.extend(a for a in attributes if _of_package(a, package))
                elif _of_package(value, package):
                    pending.append(value)
    return False


def _code_objects(code: CodeType | None) -> list[CodeType]:
    """``code`` and the code of the functions, lambdas and comprehensions in it."""
    found, pending = [], [code] if code is not None else []
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(c for c in current.co_consts if isinstance(c, CodeType))
    return found


def _of_package(value: object, package: str) -> bool:
    """A function or class defined in the user's ``package``."""
    if not isinstance(value, FunctionType | type):
        return False
    return str(getattr(value, "__module__", "")).split(".")[0] == package


def _functions_of(cls: type) -> list[Any]:
    """The functions a class defines itself (methods, static and class methods)."""
    functions = []
    for attribute in vars(cls).values():
        if isinstance(attribute, staticmethod | classmethod):
            attribute = attribute.__func__
        if isinstance(attribute, FunctionType):
            functions.append(attribute)
    return functions


def _return_annotation(function: Callable[..., Any]) -> Any:
    """What an operation without ``outputs=`` says it returns (``Any`` if unsure)."""
    try:
        return typing.get_type_hints(function).get("return", Any)
    except Exception:  # unresolvable annotations: the task is typed Any
        return Any


def _cache_options(
    node: OperationNode,
    orchestration: Orchestration,
    imports: Imports,
    types: TypeRenderer,
) -> list[str]:
    """Prefect's cache options: none (``NO_CACHE``), or a key from the inputs and the
    operation's source, an expiry, and a persisted result to reuse."""
    spec = node.spec
    if not spec.cache:
        return [f"cache_policy={imports.name('prefect.cache_policies', 'NO_CACHE')}"]
    policy = imports.name("pulpo.runtime.caching", "operation_cache")
    function = imports.name(spec.function.__module__, spec.function.__qualname__)
    arguments = [py_literal(spec.name), function]
    if node.output is not None:
        arguments.append(types.render(orchestration.graph.models[node.output].cls))
    options = [f"cache_policy={policy}({', '.join(arguments)})"]
    if spec.cache_expiration is not None:
        timedelta = imports.name("datetime", "timedelta")
        expiration = spec.cache_expiration
        seconds = py_literal(int(expiration) if expiration.is_integer() else expiration)
        options.append(f"cache_expiration={timedelta}(seconds={seconds})")
    return [*options, "persist_result=True"]


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _docstring(text: str) -> str:
    """The first paragraph of ``text`` on one line, quoted as a docstring (a
    summary cut at its first line break would end mid-sentence)."""
    paragraph = text.strip().split("\n\n")[0]
    first = (
        " ".join(line.strip() for line in paragraph.splitlines())
        .replace("\\", "\\\\")
        .replace('"""', '\\"\\"\\"')
    )
    if first.endswith('"'):
        first += " "
    return f'"""{first}"""'
