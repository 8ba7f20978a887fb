"""Errors pulpo raises for mistakes a user can fix.

Hierarchy::

    PulpoError
    ├── ProjectError      project layout, config, importing user modules
    ├── DefinitionError   misuse of @datamodel / @operation
    ├── GraphError        the data-flow graph cannot be built
    │   └── CycleError
    ├── RunError          running a flow: unknown flow, bad parameters, failures
    └── ServiceError      starting, stopping or reaching a service

Every message names the culprit and says how to fix it; the same facts are fields
(``flow``, ``operation``, ``candidates``, ``details``) for programs that handle the
error. An error about a flow run that failed also carries a stable ``code`` (one of
:data:`ERROR_CODES`), which the CLI prints and the API returns. Only the CLI turns
these into an exit code; library code raises them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, Literal, get_args

ErrorCode = Literal[
    "operation_failed",
    "timeout",
    "validation",
    "upstream_failed",
    "cancelled",
    "crashed",
    "failed",
]
"""Why a flow run failed; stable, for programs (the README has the table, the API's
schema the meanings below)."""

ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)
ERROR_CODE_MEANINGS: dict[ErrorCode, str] = {
    "operation_failed": "an operation raised, after its retries",
    "timeout": "an operation's timeout, the flow's timeout or --timeout ran out",
    "validation": "an operation returned data that does not fit its datamodel",
    "upstream_failed": "an operation the flow runs only for its inputs (outside its "
    "namespace) failed, so its own operations that need them did not run",
    "cancelled": "the run was cancelled",
    "crashed": "the run's process ended unexpectedly (killed, out of memory)",
    "failed": "the run failed for another reason (its message says why)",
}


class PulpoError(Exception):
    """Root of every error pulpo raises for a user mistake.

    Attributes:
        message: The sentence the CLI prints after ``error:``.
        flow: The flow concerned, if any.
        operation: The operation concerned (its dotted name), if any.
        candidates: Known names the user may have meant (flows, services, producers).
        code: Why a flow run failed (see :data:`ErrorCode`); ``None`` for mistakes
            found before anything ran.
        details: Further facts by name, e.g. ``parameter``, ``model``, ``path``.
    """

    def __init__(
        self,
        message: str,
        *,
        flow: str | None = None,
        operation: str | None = None,
        candidates: Iterable[str] = (),
        code: ErrorCode | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.flow = flow
        self.operation = operation
        self.candidates = tuple(candidates)
        self.code = code
        self.details = details

    def fields(self) -> dict[str, Any]:
        """The structured facts that are set, by name."""
        found = {
            "flow": self.flow,
            "operation": self.operation,
            "candidates": list(self.candidates) or None,
            "code": self.code,
            **self.details,
        }
        return {name: value for name, value in found.items() if value is not None}

    def __reduce__(self) -> tuple[Any, ...]:  # keeps the fields across processes
        return (_rebuild, (type(self), self.message, self.fields()))


def _rebuild(cls: type[PulpoError], message: str, fields: dict[str, Any]) -> PulpoError:
    error = cls.__new__(cls)
    PulpoError.__init__(error, message, **fields)
    return error


class ProjectError(PulpoError):
    """The project cannot be found, configured or imported."""

    @classmethod
    def no_project(cls, start: str) -> ProjectError:
        return cls(
            f"no pulpo project found in {start} or its parents: add a [tool.pulpo] "
            'table with modules = ["your_package"] to pyproject.toml',
            path=start,
        )

    @classmethod
    def bad_config(cls, path: str, problem: str) -> ProjectError:
        return cls(f"invalid [tool.pulpo] in {path}: {problem}", path=path)

    @classmethod
    def import_failed(
        cls, module: str, location: str, error: BaseException
    ) -> ProjectError:
        kind = type(error).__name__
        return cls(
            f"cannot import {module!r} ({location}): {kind}: {error}",
            module=module,
            path=location,
        )


class DefinitionError(PulpoError):
    """A decorator was used in a way pulpo cannot work with."""


class GraphError(PulpoError):
    """The operations and datamodels do not form a valid graph."""

    @classmethod
    def unknown_model(
        cls, operation: str, model: str, known: Iterable[str]
    ) -> GraphError:
        known = list(known)
        return cls(
            f"operation {operation!r} uses unknown datamodel {model!r}"
            f"{did_you_mean(model, known)}; decorate the class with @datamodel",
            operation=operation,
            candidates=known,
            model=model,
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
            f"annotate it as list[{model}] to receive them all",
            operation=operation,
            candidates=candidates,
            parameter=parameter,
            model=model,
        )


class CycleError(GraphError):
    """The data flow, or the flows built from it, loop back on themselves."""

    @classmethod
    def from_path(cls, what: str, path: Sequence[str], hint: str) -> CycleError:
        return cls(f"{what} form a cycle: {' → '.join(path)}; {hint}", cycle=list(path))


class RunError(PulpoError):
    """A flow cannot be run as asked, or it failed."""

    @classmethod
    def unknown_flow(cls, name: str, known: Sequence[str]) -> RunError:
        listed = ", ".join(known) or "none (is the project empty?)"
        return cls(
            f"unknown flow {name!r}{did_you_mean(name, known)}; flows: {listed}",
            flow=name,
            candidates=known,
        )

    @classmethod
    def needs_database(cls, name: str, needing: Sequence[str]) -> RunError:
        return cls(
            f"flow {name!r} uses Beanie documents (in {', '.join(needing)}) and no "
            f"database is configured; run `pulpo up` (or `pulpo db start`) or set "
            f"MONGODB_URL",
            flow=name,
            operations=list(needing),
        )


class ServiceError(PulpoError):
    """A service cannot be started, stopped or reached."""

    @classmethod
    def unknown(cls, name: str, known: Sequence[str]) -> ServiceError:
        return cls(
            f"unknown service {name!r}{did_you_mean(name, known)}; services: "
            f"{', '.join(known)}",
            candidates=known,
            service=name,
        )

    @classmethod
    def port_in_use(
        cls, service: str, port: int, holders: Sequence[str]
    ) -> ServiceError:
        held = f" by {'; '.join(holders)}" if holders else ""
        return cls(
            f"cannot start {service}: port {port} is already in use{held}; stop that "
            f"process or choose another port with PULPO_{service.upper()}_PORT (or "
            f"{service}_port in [tool.pulpo])",
            service=service,
            port=port,
            holders=list(holders),
        )


def error_line(error: PulpoError) -> str:
    """The one line a command prints for ``error``: ``error: <message>``, and for a
    failed run `` (code: <code>)``."""
    code = f" (code: {error.code})" if error.code else ""
    return f"error: {error}{code}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {matches[0]!r}?)" if matches else ""
