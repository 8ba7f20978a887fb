"""The settings of ``@resource`` providers: checked at build, resolved at run time.

A provider's keyword parameters are its settings. ``[tool.pulpo.resources.<name>]``
sets them in pyproject.toml and ``PULPO_RESOURCE_<NAME>_<SETTING>`` in the
environment (which wins); secrets may only come from the environment.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pulpo.errors import ProjectError, RunError, did_you_mean
from pulpo.resources import ResourceSpec
from pulpo.settings import resource_values, resource_variable


def check_resource_settings(
    resources: Mapping[str, ResourceSpec], tables: Mapping[str, Mapping[str, Any]]
) -> None:
    """Check ``[tool.pulpo.resources]`` against the project's resources.

    Raises:
        ProjectError: a table names no resource, a key no setting, a secret is in
            the file, or a value has the wrong type.
    """
    for name, table in sorted(tables.items()):
        spec = resources.get(name)
        if spec is None:
            raise ProjectError(
                f"[tool.pulpo.resources.{name}] names no resource"
                f"{did_you_mean(name, resources)}; the project's resources: "
                f"{', '.join(sorted(resources)) or 'none (declare one with @resource)'}",
                candidates=sorted(resources),
            )
        if not isinstance(table, Mapping):
            raise ProjectError(
                f"[tool.pulpo.resources.{name}] must be a table of settings, e.g. "
                f'model = "small"'
            )
        known = [setting for setting, _, _ in spec.settings]
        for key, value in table.items():
            if key not in known:
                raise ProjectError(
                    f"[tool.pulpo.resources.{name}] sets {key!r}, which "
                    f"{spec.location} does not take{did_you_mean(key, known)}; its "
                    f"settings: {', '.join(known) or 'none'}"
                )
            if spec.is_secret(key):
                raise ProjectError(
                    f"[tool.pulpo.resources.{name}] sets {key!r}, a secret: keep it "
                    f"out of pyproject.toml and set {resource_variable(name, key)} in "
                    f"the environment"
                )
            _validate(spec, key, value, f"[tool.pulpo.resources.{name}] {key}")


def provider_arguments(spec: ResourceSpec) -> dict[str, Any]:
    """The validated keyword arguments to open ``spec`` with, in this process.

    Raises:
        RunError: a required setting is not set, or a value has the wrong type.
    """
    names = [setting for setting, _, _ in spec.settings]
    values = resource_values(spec.name, names)
    arguments = {}
    for setting, _, default in spec.settings:
        if setting in values:
            arguments[setting] = _validate(
                spec,
                setting,
                values[setting],
                f"{resource_variable(spec.name, setting)} or "
                f"[tool.pulpo.resources.{spec.name}] {setting}",
            )
        elif default is inspect.Parameter.empty:
            where = resource_variable(spec.name, setting)
            if not spec.is_secret(setting):
                where += f" or {setting} in [tool.pulpo.resources.{spec.name}]"
            raise RunError(
                f"resource {spec.name!r} ({spec.location}) needs setting {setting!r}; "
                f"set {where}",
                resource=spec.name,
            )
    return arguments


def _validate(spec: ResourceSpec, setting: str, value: Any, where: str) -> Any:
    from pydantic import TypeAdapter, ValidationError

    annotation = next(a for n, a, _ in spec.settings if n == setting)
    try:
        return TypeAdapter(annotation).validate_python(value)
    except ValidationError as error:
        problem = error.errors()[0]["msg"]
        shown = "***" if spec.is_secret(setting) else repr(value)
        raise ProjectError(
            f"resource {spec.name!r}: {where} is {shown}: {problem}",
            resource=spec.name,
        ) from None
