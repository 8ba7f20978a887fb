"""Import a project's modules and collect what ``@datamodel`` and ``@operation`` marked."""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pulpo.decorators import (
    DataModelSpec,
    OperationSpec,
    datamodel_spec,
    operation_spec,
)
from pulpo.errors import DefinitionError, ProjectError
from pulpo.fingerprint import forget_imported
from pulpo.project import Project
from pulpo.resources import ResourceSpec, resource_spec


@dataclass(frozen=True)
class Definitions:
    """Everything a project declares, sorted by name."""

    models: tuple[DataModelSpec, ...]
    operations: tuple[OperationSpec, ...]
    resources: tuple[ResourceSpec, ...] = ()


def discover(project: Project) -> Definitions:
    """Import the project's modules (and their submodules already loaded) and collect.

    Raises:
        ProjectError: a module cannot be imported; the message says where it broke.
        DefinitionError: a decorator was misused, or a definition is not importable.
    """
    root = str(project.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    forget_imported(project)
    for name in project.modules:
        _import(name, project.root)
    models: dict[int, DataModelSpec] = {}
    operations: dict[int, OperationSpec] = {}
    resources: dict[int, ResourceSpec] = {}
    for module in _loaded_modules(project.modules):
        for value in list(vars(module).values()):
            model = datamodel_spec(value)
            if model is not None:
                models[id(model.cls)] = model
            op = operation_spec(value)
            if op is not None:
                operations[id(op.function)] = op
            provider = resource_spec(value)
            if provider is not None:
                resources[id(provider.provider)] = provider
    for op in operations.values():
        _check_importable(op.function, f"operation {op.name!r}", op.name)
    for provider in resources.values():
        _check_importable(provider.provider, f"resource {provider.name!r}")
    return Definitions(
        models=tuple(sorted(models.values(), key=lambda m: m.name)),
        operations=tuple(sorted(operations.values(), key=lambda o: o.name)),
        resources=tuple(sorted(resources.values(), key=lambda r: r.name)),
    )


def _import(name: str, root: Path) -> ModuleType:
    try:
        return importlib.import_module(name)
    except DefinitionError as error:
        raise DefinitionError(f"{_location(error, root)}: {error}") from None
    except ModuleNotFoundError as error:
        if error.name and (name == error.name or name.startswith(f"{error.name}.")):
            raise ProjectError(
                f"cannot import {name!r}: no such module under {root}; check modules in "
                f"[tool.pulpo] of pyproject.toml"
            ) from None
        raise ProjectError.import_failed(name, _location(error, root), error) from None
    except Exception as error:  # anything user code raises while importing
        raise ProjectError.import_failed(name, _location(error, root), error) from None
    except SystemExit as error:
        raise ProjectError(
            f"importing {name!r} called sys.exit({error.code!r}) "
            f"({_location(error, root)}); pulpo imports your modules to find "
            f'operations: put script code under `if __name__ == "__main__":`'
        ) from None


def _location(error: BaseException, root: Path) -> str:
    """``file:line`` of the deepest frame in the project, for messages."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_relative(error.filename, root)}:{error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if _is_under(f.filename, root)]
    if not (inside or frames):
        return "?"
    frame = (inside or frames)[-1]
    return f"{_relative(frame.filename, root)}:{frame.lineno}"


def _is_under(filename: str, root: Path) -> bool:
    try:
        Path(filename).resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _relative(filename: str, root: Path) -> str:
    try:
        return str(Path(filename).resolve().relative_to(root))
    except ValueError:
        return filename


def _loaded_modules(names: tuple[str, ...]) -> list[ModuleType]:
    prefixes = tuple(f"{name}." for name in names)
    return [
        module
        for key, module in sorted(sys.modules.items())
        if module is not None and (key in names or key.startswith(prefixes))
    ]


def _check_importable(
    function: Callable[..., Any], what: str, operation: str | None = None
) -> None:
    module = sys.modules.get(function.__module__)
    if module is None or getattr(module, function.__qualname__, None) is not function:
        raise DefinitionError(
            f"{what}: {function.__qualname__} must be defined at module level so "
            f"generated flows can import it",
            operation=operation,
        )
