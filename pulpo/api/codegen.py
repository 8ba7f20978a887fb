"""Generate ``run_cache/api/``: the app, one CRUD module per document, the run routes.

The templates in ``templates/api/`` show each module top to bottom; this module only
gathers what they fill in (documents, flows, the local name of every imported object)
and ruff lays the result out. Generated modules only declare routes; each route calls
one helper of :mod:`pulpo.api`, so no behaviour is repeated per model. No FastAPI
import here: this runs in ``pulpo build``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pulpo.api.runs import pascal_case
from pulpo.errors import GraphError
from pulpo.naming import kebab_plural, snake_case
from pulpo.orchestration.codegen import ORCHESTRATION_PACKAGE
from pulpo.orchestration.compiler import FlowDefinition, Orchestration
from pulpo.orchestration.formatting import format_python
from pulpo.orchestration.pysource import Imports, identifier
from pulpo.orchestration.templating import render

API_PACKAGE = "run_cache.api"
API_PREFIX = "/api/v1"
# The schema aliases each document module defines: <Model>Id, <Model>Create, ...
SCHEMAS = ("Id", "Create", "Update", "Read", "Query", "Page")


class ModuleImports:
    """The imports of one generated module: a unique local name per imported object.

    Each object gets its own ``from … import …`` line; ruff sorts and merges them.
    """

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._locals = Imports(reserved=set(reserved))
        self._lines: set[str] = set()

    def name(self, module: str, attribute: str) -> str:
        """Import ``attribute`` from ``module``; the name to use for it in the code."""
        local = self._locals.name(module, attribute)
        alias = "" if local == attribute else f" as {local}"
        self._lines.add(f"from {module} import {attribute}{alias}")
        return local

    def names(self, *wanted: tuple[str, str]) -> dict[str, str]:
        """Import each ``(module, attribute)``; local names by attribute."""
        return {attribute: self.name(module, attribute) for module, attribute in wanted}

    def lines(self) -> list[str]:
        """The import statements, sorted."""
        return sorted(self._lines)


@dataclass(frozen=True)
class DocumentView:
    """One document's route module, as ``app.py`` imports it."""

    module: str  # local name of the imported route module
    model: str  # local name of the imported document class


@dataclass(frozen=True)
class FlowView:
    """What ``flows.py`` says about one flow."""

    name: str
    scope: str
    standalone: bool
    function: str  # local name of the imported Prefect flow
    request: str  # its request body model, ``<Flow>Run``
    route: str  # the route function, ``run_<flow>``


class ApiCodeGenerator:
    """Turns an :class:`Orchestration` into the modules of ``run_cache/api``."""

    def __init__(
        self,
        orchestration: Orchestration,
        project: str,
        first_party: Iterable[str] = (),
    ) -> None:
        self.orchestration = orchestration
        self.project = project
        self.first_party = {*first_party, "run_cache"}

    def documents(self) -> dict[str, str]:
        """Route module names by document datamodel name, checked for clashes."""
        modules: dict[str, str] = {}
        for name, spec in self.orchestration.graph.models.items():
            if not spec.is_document:
                continue
            module = kebab_plural(name).replace("-", "_")
            clash = next((n for n, m in modules.items() if m == module), None)
            if clash is not None:
                raise GraphError(
                    f"datamodels {clash!r} and {name!r} would both be served at "
                    f"{API_PREFIX}/{kebab_plural(name)}; rename one with "
                    f'@datamodel(name="...")'
                )
            modules[name] = module
        return modules

    def generate(self) -> dict[str, str]:
        """Every generated file, by path relative to ``run_cache/api``, formatted."""
        documents = self.documents()
        files = {
            f"documents/{module}.py": self.document_module(name)
            for name, module in documents.items()
        }
        files["documents/__init__.py"] = render("api/documents_init.py.j2")
        files["flows.py"] = self.flows_module()
        files["app.py"] = self.app_module(documents)
        files["__init__.py"] = render("api/package_init.py.j2")
        return format_python(files, self.first_party)

    def app_module(self, documents: dict[str, str]) -> str:
        """``app.py``: the FastAPI app with every router (unformatted)."""
        imports = ModuleImports(reserved={"app"})
        names = imports.names(
            ("pathlib", "Path"),
            ("pulpo.api.app", "create_app"),
            (API_PACKAGE, "flows"),
        )
        modules = [
            imports.name(f"{API_PACKAGE}.documents", module)
            for module in documents.values()
        ]
        models = [self._model(name, imports) for name in documents]
        views = [
            DocumentView(module=module, model=model)
            for module, model in zip(modules, models, strict=True)
        ]
        return render(
            "api/app.py.j2",
            project=self.project,
            imports=imports.lines(),
            names=names,
            documents=views,
        )

    def document_module(self, name: str) -> str:
        """``documents/<plural>.py``: the CRUD routes of one document (unformatted)."""
        plural = kebab_plural(name)
        many = plural.replace("-", "_")
        one = identifier(snake_case(name))
        schema = identifier(name)
        defined = {
            "store",
            "router",
            "response",
            "body",
            "id",
            "idempotency_key",
            "if_match",
            *(f"{schema}{kind}" for kind in SCHEMAS),
            f"list_{many}",
            *(f"{verb}_{one}" for verb in ("create", "get", "update", "delete")),
        }
        imports = ModuleImports(reserved=defined)
        model = self._model(name, imports)
        names = imports.names(
            ("typing", "TYPE_CHECKING"),
            ("typing", "Annotated"),
            ("typing", "Any"),
            ("fastapi", "APIRouter"),
            ("fastapi", "Query"),
            ("fastapi", "Response"),
            ("fastapi", "status"),
            ("pydantic", "BaseModel"),
            ("pulpo.api.crud", "DocumentStore"),
            ("pulpo.api.crud", "IfMatch"),
            ("pulpo.api.idempotency", "IdempotencyKey"),
        )
        return render(
            "api/document.py.j2",
            imports=imports.lines(),
            names=names,
            name=name,
            model=model,
            schema=schema,
            prefix=f"{API_PREFIX}/{plural}",
            tag=plural,
            many=many,
            one=one,
        )

    def flows_module(self) -> str:
        """``flows.py``: a route that starts runs of each flow (unformatted)."""
        flows = self.orchestration.flows.values()
        defined = {"router", "FLOWS", "request", "jobs", "idempotency_key"}
        for flow in flows:
            defined |= {_request(flow), _route(flow)}
        imports = ModuleImports(reserved=defined)
        names = imports.names(
            ("fastapi", "APIRouter"), ("pulpo.api.runs", "flows_by_name")
        )
        if flows:
            names |= imports.names(
                ("typing", "TYPE_CHECKING"),
                ("fastapi", "status"),
                ("pulpo.api.idempotency", "IdempotencyKey"),
                ("pulpo.api.jobs", "Jobs"),
                ("pulpo.api.runs", "RunRequest"),
                ("pulpo.api.runs", "RunSubmitted"),
                ("pulpo.api.runs", "run_request"),
            )
        views = [
            FlowView(
                name=flow.name,
                scope=flow.scope,
                standalone=flow.standalone,
                function=imports.name(
                    f"{ORCHESTRATION_PACKAGE}.{flow.module}", flow.name
                ),
                request=_request(flow),
                route=_route(flow),
            )
            for flow in flows
        ]
        return render(
            "api/flows.py.j2",
            imports=imports.lines(),
            names=names,
            prefix=f"{API_PREFIX}/flows",
            flows=views,
        )

    def _model(self, name: str, imports: ModuleImports) -> str:
        cls = self.orchestration.graph.models[name].cls
        return imports.name(cls.__module__, cls.__qualname__)


def _request(flow: FlowDefinition) -> str:
    return f"{pascal_case(flow.name)}Run"  # the name run_request gives the model


def _route(flow: FlowDefinition) -> str:
    return f"run_{identifier(flow.name)}"
