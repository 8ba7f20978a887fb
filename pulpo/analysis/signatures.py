"""How each parameter of an operation gets its value: wired datamodel or flow parameter."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulpo.decorators import OperationSpec, datamodel_spec
from pulpo.errors import DefinitionError, GraphError

EMPTY: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class ParameterInfo:
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
    spec: OperationSpec, model_names: Mapping[str, type]
) -> tuple[ParameterInfo, ...]:
    """Classify the parameters of ``spec`` and check them against its declared inputs.

    Args:
        spec: The operation.
        model_names: Datamodel name to class, for every datamodel of the project.

    Raises:
        GraphError: A declared input is not a known datamodel.
        DefinitionError: Annotations cannot be resolved, or a declared input has no
            parameter annotated with it.
    """
    declared = {resolve_model_ref(spec.name, ref, model_names) for ref in spec.inputs}
    hints = _type_hints(spec)
    parameters = []
    for parameter in inspect.signature(spec.function).parameters.values():
        annotation = hints.get(parameter.name, Any)
        model, many = _wired_model(annotation)
        parameters.append(
            ParameterInfo(parameter.name, annotation, parameter.default, model, many)
        )
    annotated = {p.model for p in parameters if p.model is not None}
    missing = sorted(declared - annotated)
    if missing:
        raise DefinitionError(
            f"operation {spec.name!r} declares input {missing[0]!r} but no parameter "
            f"is annotated {missing[0]} or list[{missing[0]}]; annotate the parameter "
            f"that receives it"
        )
    return tuple(parameters)


def resolve_model_ref(
    operation: str, ref: object, model_names: Mapping[str, type]
) -> str:
    """Turn a datamodel class or name used by ``operation`` into the datamodel's name."""
    if isinstance(ref, str):
        if ref not in model_names:
            raise GraphError.unknown_model(operation, ref, model_names)
        return ref
    spec = datamodel_spec(ref)
    if spec is None or model_names.get(spec.name) is not ref:
        name = getattr(ref, "__name__", repr(ref))
        raise GraphError.unknown_model(operation, name, model_names)
    return spec.name


def _type_hints(spec: OperationSpec) -> dict[str, Any]:
    try:
        return typing.get_type_hints(spec.function)
    except Exception as error:  # NameError, TypeError, … from user annotations
        raise DefinitionError(
            f"operation {spec.name!r}: cannot resolve the annotations of "
            f"{spec.function.__qualname__}: {error}; import the names they use at "
            f"module level"
        ) from None


def _wired_model(annotation: Any) -> tuple[str | None, bool]:
    spec = datamodel_spec(annotation)
    if spec is not None:
        return spec.name, False
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        inner = datamodel_spec(args[0]) if len(args) == 1 else None
        if inner is not None:
            return inner.name, True
    return None, False
