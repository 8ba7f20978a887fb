"""Errors pulpo raises for mistakes a user can fix.

Hierarchy::

    PulpoError
    ├── ProjectError      project layout, config, importing user modules
    ├── DefinitionError   misuse of @datamodel / @operation
    ├── GraphError        the data-flow graph cannot be built
    │   └── CycleError
    ├── RunError          running a flow: unknown flow, bad parameters, failures
    └── ServiceError      starting, stopping or reaching a service

Every message names the culprit and says how to fix it. Only the CLI turns these into
an exit code; library code raises them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class PulpoError(Exception):
    """Root of every error pulpo raises for a user mistake."""


class ProjectError(PulpoError):
    """The project cannot be found, configured or imported."""

    @classmethod
    def no_project(cls, start: str) -> ProjectError:
        return cls(
            f"no pulpo project found in {start} or its parents: add a [tool.pulpo] "
            'table with modules = ["your_package"] to pyproject.toml'
        )

    @classmethod
    def bad_config(cls, path: str, problem: str) -> ProjectError:
        return cls(f"invalid [tool.pulpo] in {path}: {problem}")

    @classmethod
    def import_failed(
        cls, module: str, location: str, error: BaseException
    ) -> ProjectError:
        kind = type(error).__name__
        return cls(f"cannot import {module!r} ({location}): {kind}: {error}")


class DefinitionError(PulpoError):
    """A decorator was used in a way pulpo cannot work with."""


class GraphError(PulpoError):
    """The operations and datamodels do not form a valid graph."""

    @classmethod
    def unknown_model(
        cls, operation: str, model: str, known: Iterable[str]
    ) -> GraphError:
        return cls(
            f"operation {operation!r} uses unknown datamodel {model!r}"
            f"{did_you_mean(model, known)}; decorate the class with @datamodel"
        )

    @classmethod
    def ambiguous_input(
        cls, operation: str, parameter: str, model: str, candidates: Sequence[str]
    ) -> GraphError:
        listed = ", ".join(candidates)
        return cls(
            f"operation {operation!r}: parameter {parameter!r} ({model}) has several "
            f"producers ({listed}) and none is singled out by a name segment "
            f"{parameter!r}; rename the parameter after one producer's segment or "
            f"annotate it as list[{model}] to receive them all"
        )


class CycleError(GraphError):
    """The data flow, or the flows built from it, loop back on themselves."""

    @classmethod
    def from_path(cls, what: str, path: Sequence[str], hint: str) -> CycleError:
        return cls(f"{what} form a cycle: {' → '.join(path)}; {hint}")


class RunError(PulpoError):
    """A flow cannot be run as asked, or it failed."""

    @classmethod
    def unknown_flow(cls, name: str, known: Sequence[str]) -> RunError:
        listed = ", ".join(known) or "none (is the project empty?)"
        return cls(f"unknown flow {name!r}{did_you_mean(name, known)}; flows: {listed}")

    @classmethod
    def needs_database(cls, name: str, needing: Sequence[str]) -> RunError:
        return cls(
            f"flow {name!r} uses Beanie documents (in {', '.join(needing)}) and no "
            f"database is configured; run `pulpo up` (or `pulpo db start`) or set "
            f"MONGODB_URL"
        )


class ServiceError(PulpoError):
    """A service cannot be started, stopped or reached."""

    @classmethod
    def unknown(cls, name: str, known: Sequence[str]) -> ServiceError:
        return cls(
            f"unknown service {name!r}{did_you_mean(name, known)}; services: "
            f"{', '.join(known)}"
        )

    @classmethod
    def port_in_use(
        cls, service: str, port: int, holders: Sequence[str]
    ) -> ServiceError:
        held = f" by {'; '.join(holders)}" if holders else ""
        return cls(
            f"cannot start {service}: port {port} is already in use{held}; stop that "
            f"process or choose another port with PULPO_{service.upper()}_PORT (or "
            f"{service}_port in [tool.pulpo])"
        )


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
