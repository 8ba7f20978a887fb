"""How each parameter of an operation gets its value: wired datamodel or flow parameter."""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

from pulpo.decorators import (
    OperationSpec,
    datamodel_spec,
    missing_input_message,
    resolved_parameters,
    wired_model,
)
from pulpo.errors import DefinitionError, GraphError, did_you_mean
from pulpo.resources import ResourceSpec, resource_of, resources_by_type

EMPTY: Any = inspect.Parameter.empty
_PLAIN = frozenset({str, int, float, bool, bytes, dict, list, Any})  # never datamodels


class ParameterInfo(NamedTuple):
    """One parameter of an operation.

    ``model`` names the datamodel that annotates it (``X`` or ``list[X]``, then
    ``many`` is true); it is ``None`` for plain parameters. A fan-out parameter
    (``map_over``) has the datamodel it maps over as ``model`` and the list field
    whose items it receives as ``field``. A parameter that asks for a ``@resource``
    names it in ``resource``.
    """

    name: str
    annotation: Any
    default: Any
    model: str | None = None
    many: bool = False
    field: str | None = None
    resource: str | None = None

    @property
    def required(self) -> bool:
        return self.default is EMPTY


def describe_parameters(
    spec: OperationSpec,
    model_names: Mapping[str, type],
    class_names: Mapping[type, str] | None = None,
    resources: Mapping[str, ResourceSpec] | None = None,
    resource_types: Mapping[Any, tuple[str, ...]] | None = None,
) -> tuple[ParameterInfo, ...]:
    """Classify the parameters of ``spec`` and check them against its declared inputs.

    Args:
        spec: The operation.
        model_names: Datamodel name to class, for every datamodel of the project.
        class_names: The inverse mapping, when the caller already has it.
        resources: Resource name to spec, for every resource of the project.
        resource_types: :func:`resources_by_type` of ``resources``, when the caller
            already has it.

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
    mapped = spec.map_over[0] if spec.map_over else None
    parameters = []
    resources = resources or {}
    if resource_types is None:
        resource_types = resources_by_type(resources)
    for name, annotation, default in resolved:
        used = resource_of(spec.name, name, annotation, resources, resource_types)
        if used is not None:
            parameters.append(ParameterInfo(name, annotation, default, resource=used))
            continue
        if name == mapped:
            parameters.append(_mapped_parameter(spec, annotation, default, model_names))
            continue
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


def _mapped_parameter(
    spec: OperationSpec, annotation: Any, default: Any, model_names: Mapping[str, type]
) -> ParameterInfo:
    """The fan-out parameter: checks that its type is the item type of the field."""
    assert spec.map_over is not None
    name, model, field = spec.map_over
    cls = model_names.get(model)
    if cls is None:
        raise GraphError.unknown_model(spec.name, model, model_names)
    fields = getattr(cls, "model_fields", {})
    if field not in fields:
        raise DefinitionError(
            f"operation {spec.name!r}: map_over {model}.{field}: {model} has no field "
            f"{field!r}{did_you_mean(field, fields)}; its fields: {', '.join(fields)}",
            operation=spec.name,
        )
    declared = fields[field].annotation
    items = typing.get_args(declared) if typing.get_origin(declared) is list else ()
    if len(items) != 1:
        raise DefinitionError(
            f"operation {spec.name!r}: map_over {model}.{field} is not a list (it is "
            f"{_show(declared)}); map over a field annotated list[...]",
            operation=spec.name,
        )
    if annotation is not Any and annotation != items[0]:
        raise DefinitionError(
            f"operation {spec.name!r}: parameter {name!r} is annotated "
            f"{_show(annotation)} but {model}.{field} holds {_show(items[0])}; annotate "
            f"it {_show(items[0])}",
            operation=spec.name,
        )
    return ParameterInfo(name, items[0], default, model, field=field)


def _show(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def _resolve_now(spec: OperationSpec) -> tuple[tuple[str, Any, Any], ...]:
    """Annotations that could not be resolved when the decorator ran (forward refs)."""
    try:
        resolved = resolved_parameters(spec.function)
    except Exception as error:  # NameError, TypeError, … from user annotations
        raise DefinitionError(
            f"operation {spec.name!r}: cannot resolve the annotations of "
            f"{spec.function.__qualname__}: {error}; import the names they use at "
            f"module level",
            operation=spec.name,
        ) from None
    return resolved


def check_return_annotation(spec: OperationSpec, model: str, cls: type) -> None:
    """``outputs=`` and the function's return annotation must name the same type.

    Without the check the disagreement shows only when the flow runs and the
    returned value fails validation. Missing, ``Any`` or unresolvable annotations are
    not checked; ``X | None`` and subclasses of ``X`` agree with ``X``.

    Raises:
        GraphError: the annotation names another type.
    """
    returns = spec.returns
    if spec.parameters is None:  # not resolvable when decorated: try once more
        try:
            returns = typing.get_type_hints(spec.function).get("return", Any)
        except Exception:  # forward references the module cannot resolve: unchecked
            return
    candidates = (
        typing.get_args(returns)
        if typing.get_origin(returns) in (typing.Union, types.UnionType)
        else (returns,)
    )
    if returns is Any or any(
        isinstance(c, type) and issubclass(c, cls) for c in candidates
    ):
        return
    shown = getattr(returns, "__name__", None) or repr(returns).replace("typing.", "")
    raise GraphError(
        f"operation {spec.name!r}: outputs={model} but {spec.function.__qualname__} "
        f"is annotated to return {shown}; make the annotation `-> {cls.__name__}` "
        f"or change outputs=",
        operation=spec.name,
    )
