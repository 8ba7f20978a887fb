"""How each parameter of an operation gets its value: wired datamodel or flow parameter."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, NamedTuple

from pulpo.decorators import (
    OperationSpec,
    datamodel_spec,
    missing_input_message,
    resolved_parameters,
    wired_model,
)
from pulpo.errors import DefinitionError, GraphError

EMPTY: Any = inspect.Parameter.empty
_PLAIN = frozenset({str, int, float, bool, bytes, dict, list, Any})  # never datamodels


class ParameterInfo(NamedTuple):
    """One parameter of an operation.

    ``model`` names the datamodel that annotates it (``X`` or ``list[X]``, then
    ``many`` is true); it is ``None`` for plain parameters.
    """

    name: str
    annotation: Any
    default: Any
    model: str | None = None
    many: bool = False

    @property
    def required(self) -> bool:
        return self.default is EMPTY


def describe_parameters(
    spec: OperationSpec,
    model_names: Mapping[str, type],
    class_names: Mapping[type, str] | None = None,
) -> tuple[ParameterInfo, ...]:
    """Classify the parameters of ``spec`` and check them against its declared inputs.

    Args:
        spec: The operation.
        model_names: Datamodel name to class, for every datamodel of the project.
        class_names: The inverse mapping, when the caller already has it.

    Raises:
        GraphError: A declared or annotated datamodel is not one of the project's.
        DefinitionError: Annotations cannot be resolved, or a declared input has no
            parameter annotated with it.
    """
    if class_names is None:
        class_names = {cls: name for name, cls in model_names.items()}
    declared = {
        resolve_model_ref(spec.name, ref, model_names, class_names)
        for ref in spec.inputs
    }
    resolved = _resolve_now(spec) if spec.parameters is None else spec.parameters
    parameters = []
    for name, annotation, default in resolved:
        if annotation in _PLAIN:
            parameters.append(ParameterInfo(name, annotation, default))
            continue
        wired = wired_model(annotation)
        if wired is None:
            parameters.append(ParameterInfo(name, annotation, default))
            continue
        model, many = wired
        if model not in class_names:
            raise GraphError.unknown_model(spec.name, model.__name__, model_names)
        parameters.append(
            ParameterInfo(name, annotation, default, class_names[model], many)
        )
    annotated = {p.model for p in parameters if p.model is not None}
    missing = sorted(declared - annotated)
    if missing:
        raise DefinitionError(missing_input_message(spec.name, missing[0]))
    return tuple(parameters)


def resolve_model_ref(
    operation: str,
    ref: object,
    model_names: Mapping[str, type],
    class_names: Mapping[type, str] | None = None,
) -> str:
    """Turn a datamodel class or name used by ``operation`` into the datamodel's name."""
    if isinstance(ref, str):
        if ref not in model_names:
            raise GraphError.unknown_model(operation, ref, model_names)
        return ref
    if class_names is not None and isinstance(ref, type) and ref in class_names:
        return class_names[ref]
    spec = datamodel_spec(ref)
    if spec is None or model_names.get(spec.name) is not ref:
        name = getattr(ref, "__name__", repr(ref))
        raise GraphError.unknown_model(operation, name, model_names)
    return spec.name


def _resolve_now(spec: OperationSpec) -> tuple[tuple[str, Any, Any], ...]:
    """Annotations that could not be resolved when the decorator ran (forward refs)."""
    try:
        resolved = resolved_parameters(spec.function)
    except Exception as error:  # NameError, TypeError, … from user annotations
        raise DefinitionError(
            f"operation {spec.name!r}: cannot resolve the annotations of "
            f"{spec.function.__qualname__}: {error}; import the names they use at "
            f"module level"
        ) from None
    return resolved
