"""The two decorators users write: ``@datamodel`` and ``@operation``.

Both validate at decoration time, attach a frozen spec to the decorated object and
return the object unchanged, so user code stays plain and directly testable.
"""

from __future__ import annotations

import inspect
import keyword
import math
import sys
import typing
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from pulpo.errors import DefinitionError
from pulpo.hooks import OnCompletion, OnFailure
from pulpo.resources import Resource

DATAMODEL_ATTR = "__pulpo_datamodel__"
OPERATION_ATTR = "__pulpo_operation__"
MAX_RETRIES = 50  # Prefect accepts at most 50 per-attempt retry delays.
RESERVED_PARAMETERS = frozenset({"return_state", "wait_for"})  # Prefect call options


ModelRef = type[BaseModel] | str
ModelT = TypeVar("ModelT", bound=type[BaseModel])
FuncT = TypeVar("FuncT", bound=Callable[..., Any])


@dataclass(frozen=True)
class DataModelSpec:
    """What pulpo knows about a ``@datamodel`` class."""

    name: str
    cls: type[BaseModel]
    is_document: bool


@dataclass(frozen=True)
class OperationSpec:
    """Everything declared by one ``@operation``: identity, data flow and run policy."""

    name: str
    function: Callable[..., Any]
    inputs: tuple[ModelRef, ...]
    output: ModelRef | None
    retries: int = 0
    retry_delay: float = 0.0
    backoff: float = 2.0
    max_retry_delay: float | None = None
    retry_jitter: float = 0.0
    # Only these exception types are retried; empty: any failure is.
    retry_on: tuple[type[BaseException], ...] = ()
    timeout: float | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    # (name, resolved annotation, default) per parameter; None when the annotations
    # could not be resolved at decoration time (forward references).
    parameters: tuple[tuple[str, Any, Any], ...] | None = None
    # The resolved return annotation (Any when there is none), with ``parameters``.
    returns: Any = Any
    # Fan-out: (parameter, datamodel, field); the parameter gets one item of the
    # datamodel's list field per call, at most ``max_concurrency`` calls at a time.
    map_over: tuple[str, str, str] | None = None
    max_concurrency: int | None = None
    # Reuse a result for the same inputs and function source, for at most
    # ``cache_expiration`` seconds (None: until the inputs or the source change).
    cache: bool = False
    cache_expiration: float | None = None
    # Module-level functions called once the operation failed for good / returned.
    on_failure: Callable[..., Any] | None = None
    on_completion: Callable[..., Any] | None = None

    @property
    def retry_delays(self) -> tuple[float, ...]:
        """The wait before each retry: ``retry_delay`` growing by ``backoff``, at most
        ``max_retry_delay``."""
        cap = math.inf if self.max_retry_delay is None else self.max_retry_delay
        return tuple(
            min(self.retry_delay * self.backoff**i, cap) for i in range(self.retries)
        )


@overload
def datamodel(cls: ModelT, /) -> ModelT: ...
@overload
def datamodel(*, name: str | None = None) -> Callable[[ModelT], ModelT]: ...
def datamodel(cls: Any = None, /, *, name: str | None = None) -> Any:
    """Mark a pydantic model or Beanie document as data that operations exchange.

    Args:
        cls: The class, when used as a bare ``@datamodel``.
        name: The model's name in the graph; defaults to the class name.

    Returns:
        The class itself, unchanged apart from the attached spec.
    """

    def mark(model: ModelT) -> ModelT:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise DefinitionError(
                f"@datamodel expects a pydantic BaseModel or beanie Document subclass, "
                f"got {model!r}"
            )
        model_name = model.__name__ if name is None else name
        if not _is_identifier(model_name):
            raise DefinitionError(
                f"invalid datamodel name {model_name!r}: use a Python identifier such as "
                f"'RawJobs'"
            )
        spec = DataModelSpec(
            name=model_name, cls=model, is_document=_is_document(model)
        )
        setattr(model, DATAMODEL_ATTR, spec)
        return model

    return mark if cls is None else mark(cls)


def operation(
    *,
    name: str,
    inputs: ModelRef | Sequence[ModelRef] | None = None,
    outputs: ModelRef | None = None,
    retries: int = 0,
    retry_delay: float = 0.0,
    backoff: float = 2.0,
    max_retry_delay: float | None = None,
    retry_jitter: float = 0.0,
    retry_on: type[BaseException] | Sequence[type[BaseException]] = (),
    timeout: float | None = None,
    description: str = "",
    tags: Sequence[str] = (),
    map_over: Mapping[str, str] | None = None,
    max_concurrency: int | None = None,
    cache: bool = False,
    cache_expiration: float | timedelta | None = None,
    on_failure: OnFailure | None = None,
    on_completion: OnCompletion | None = None,
) -> Callable[[FuncT], FuncT]:
    """Declare a function as a step of the project's data flow.

    Args:
        name: Dotted name such as ``"scraping.linkedin.fetch"``; the prefixes are the
            namespaces whose flows run it. An undotted name makes a standalone flow.
        inputs: The datamodels the function consumes (``None`` or ``BaseModel`` for
            none). Each must annotate one of its parameters, as ``X`` or ``list[X]``.
        outputs: The datamodel the function returns (``None`` for none).
        retries: How often a failed run is retried.
        retry_delay: Seconds before the first retry.
        backoff: Factor by which each further retry delay grows.
        max_retry_delay: The longest wait before a retry, however far backoff has
            grown it (``None``: no cap).
        retry_jitter: Spread each wait at random up to ``(1 + retry_jitter)`` times
            its delay, about the delay on average (Prefect's ``retry_jitter_factor``),
            so that many failing calls do not retry in step. ``0`` for none.
        retry_on: Retry only when an attempt raises one of these exception types
            (module-level classes); any other failure fails the operation at once.
            Empty: every failure is retried.
        timeout: Seconds one attempt may take; ``None`` for no limit.
        description: Shown in ``pulpo inspect`` and in the generated task.
        tags: Prefect tags for the task.
        map_over: Fan-out: ``{"posting": "CleanedJobs.postings"}`` runs the function
            once per item of that datamodel field (a list), passing the item as
            ``posting``; the output is the list of results, in item order.
        max_concurrency: With ``map_over``: how many calls may run at once
            (``None``: all).
        cache: Reuse the result of an earlier call with the same inputs (and the
            same source of the function) instead of calling it again, also across
            flow runs; the results are stored in Prefect's result storage.
        cache_expiration: With ``cache``: how long a result is reused, in seconds
            or as a ``timedelta`` (``None``: until the inputs or the source change).
        on_failure: A module-level function called with a
            :class:`~pulpo.hooks.FailedOperation` once a call has failed for good
            (after its retries), e.g. to undo what earlier steps wrote.
        on_completion: A module-level function called with a
            :class:`~pulpo.hooks.CompletedOperation` once a call has returned.

    Returns:
        A decorator that returns the function itself.
    """
    _check_operation_name(name)
    _check_policy(
        name, retries, retry_delay, backoff, timeout, max_retry_delay, retry_jitter
    )
    retry_types = _normalize_retry_on(name, retry_on)
    input_refs = _normalize_inputs(name, inputs)
    output_ref = _normalize_output(name, outputs)
    mapping = _normalize_map_over(name, map_over, max_concurrency)
    expiration = _normalize_cache(name, cache, cache_expiration)
    _check_hook(name, "on_failure", on_failure)
    _check_hook(name, "on_completion", on_completion)

    def mark(function: FuncT) -> FuncT:
        _check_function(name, function)
        _check_not_redefined(name, function)
        if mapping is not None and mapping[0] not in _parameter_names(function):
            raise DefinitionError(
                f"operation {name!r}: map_over names parameter {mapping[0]!r}, which "
                f"{function.__qualname__} does not have; name the parameter that "
                f"receives one item",
                operation=name,
            )
        parameters, returns = _try_resolve(function)
        if parameters is not None:
            _check_declared_inputs(name, input_refs, parameters, mapping)
        spec = OperationSpec(
            name=name,
            function=function,
            inputs=input_refs,
            output=output_ref,
            retries=retries,
            retry_delay=float(retry_delay),
            backoff=float(backoff),
            max_retry_delay=None if max_retry_delay is None else float(max_retry_delay),
            retry_jitter=float(retry_jitter),
            retry_on=retry_types,
            timeout=None if timeout is None else float(timeout),
            description=description or inspect.getdoc(function) or "",
            tags=tuple(tags),
            parameters=parameters,
            returns=returns,
            map_over=mapping,
            max_concurrency=max_concurrency,
            cache=cache,
            cache_expiration=expiration,
            on_failure=on_failure,
            on_completion=on_completion,
        )
        setattr(function, OPERATION_ATTR, spec)
        return function

    return mark


def datamodel_spec(obj: object) -> DataModelSpec | None:
    """Return the spec of a class decorated with ``@datamodel`` itself (not inherited)."""
    if isinstance(obj, type):
        spec = obj.__dict__.get(DATAMODEL_ATTR)
        if isinstance(spec, DataModelSpec) and spec.cls is obj:
            return spec
    return None


def operation_spec(obj: object) -> OperationSpec | None:
    """Return the spec of a function decorated with ``@operation``."""
    spec = getattr(obj, OPERATION_ATTR, None)
    return spec if isinstance(spec, OperationSpec) and spec.function is obj else None


def resolved_parameters(
    function: Callable[..., Any],
) -> tuple[tuple[str, Any, Any], ...]:
    """``(name, annotation, default)`` per parameter, annotations resolved.

    Raises:
        Exception: whatever resolving the annotations raises (e.g. NameError).
    """
    return resolved_signature(function)[0]


def resolved_signature(
    function: Callable[..., Any],
) -> tuple[tuple[tuple[str, Any, Any], ...], Any]:
    """:func:`resolved_parameters` and the resolved return annotation (or Any)."""
    hints = typing.get_type_hints(function)
    extras = typing.get_type_hints(function, include_extras=True)
    parameters = tuple(
        (
            p.name,
            _keep_resource_marker(hints.get(p.name, Any), extras.get(p.name)),
            p.default,
        )
        for p in inspect.signature(function).parameters.values()
    )
    return parameters, hints.get("return", Any)


def _keep_resource_marker(plain: Any, annotated: Any) -> Any:
    """``Annotated[T, Resource(...)]`` stays whole; other metadata is dropped."""
    if typing.get_origin(annotated) is typing.Annotated and any(
        isinstance(extra, Resource) for extra in annotated.__metadata__
    ):
        return annotated
    return plain


def wired_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The datamodel an annotation names, as ``X`` (False) or ``list[X]`` (True)."""
    if datamodel_spec(annotation) is not None:
        return annotation, False
    if typing.get_origin(annotation) is list:
        args = typing.get_args(annotation)
        if len(args) == 1 and datamodel_spec(args[0]) is not None:
            return args[0], True
    return None


def missing_input_message(operation: str, model: str) -> str:
    return (
        f"operation {operation!r} declares input {model!r} but no parameter is "
        f"annotated {model} or list[{model}]; annotate the parameter that receives it"
    )


def _try_resolve(
    function: Callable[..., Any],
) -> tuple[tuple[tuple[str, Any, Any], ...] | None, Any]:
    try:
        return resolved_signature(function)
    except Exception:  # resolved again, and reported, during analysis
        return None, Any


def _check_declared_inputs(
    name: str,
    inputs: tuple[ModelRef, ...],
    parameters: tuple[tuple[str, Any, Any], ...],
    mapping: tuple[str, str, str] | None = None,
) -> None:
    annotated = {
        m[0] for _, annotation, _ in parameters if (m := wired_model(annotation))
    }
    mapped = mapping[1] if mapping is not None else None
    for ref in inputs:
        spec = datamodel_spec(ref)
        if spec is not None and ref not in annotated and spec.name != mapped:
            raise DefinitionError(missing_input_message(name, spec.name))


def _parameter_names(function: Callable[..., Any]) -> set[str]:
    return set(inspect.signature(function).parameters)


def _normalize_map_over(
    name: str, map_over: Mapping[str, str] | None, max_concurrency: int | None
) -> tuple[str, str, str] | None:
    if max_concurrency is not None and (
        not isinstance(max_concurrency, int)
        or isinstance(max_concurrency, bool)
        or max_concurrency < 1
    ):
        raise DefinitionError(
            f"operation {name!r}: max_concurrency must be a whole number >= 1 or None",
            operation=name,
        )
    if map_over is None:
        if max_concurrency is not None:
            raise DefinitionError(
                f"operation {name!r}: max_concurrency limits a fan-out; add map_over="
                f'{{"item": "Model.field"}} or remove it',
                operation=name,
            )
        return None
    example = '{"posting": "CleanedJobs.postings"}'
    if not isinstance(map_over, Mapping) or len(map_over) != 1:
        raise DefinitionError(
            f"operation {name!r}: map_over takes one parameter and the datamodel list "
            f"field it maps over, e.g. map_over={example}",
            operation=name,
        )
    ((parameter, source),) = map_over.items()
    model, dot, field = (
        source.partition(".") if isinstance(source, str) else ("", "", "")
    )
    if not (
        isinstance(parameter, str)
        and dot
        and _is_identifier(model)
        and _is_identifier(field)
    ):
        raise DefinitionError(
            f"operation {name!r}: invalid map_over {dict(map_over)!r}; write "
            f"{{parameter: 'Datamodel.field'}}, e.g. map_over={example}",
            operation=name,
        )
    return parameter, model, field


def _is_identifier(text: str) -> bool:
    return text.isidentifier() and not keyword.iskeyword(text)


def _is_document(model: type) -> bool:
    # Checked by name so that pulpo never imports beanie for plain pydantic projects.
    return any(
        base.__name__ == "Document" and base.__module__.startswith("beanie")
        for base in model.__mro__
    )


def _check_operation_name(name: object) -> None:
    if not isinstance(name, str) or not all(map(_is_identifier, name.split("."))):
        raise DefinitionError(
            f"invalid operation name {name!r}: use dot-separated Python identifiers, "
            f"e.g. 'scraping.linkedin.fetch'"
        )
    normal = unicodedata.normalize("NFKC", name)
    if normal != name:  # Python reads identifiers NFKC-normalised: imports would miss
        raise DefinitionError(
            f"invalid operation name {name!r}: Python reads it as {normal!r}; "
            f"write {normal!r}"
        )


def _check_policy(
    name: str,
    retries: int,
    retry_delay: float,
    backoff: float,
    timeout: float | None,
    max_retry_delay: float | None,
    retry_jitter: float,
) -> None:
    problems = []
    if not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        problems.append(f"retries must be an integer from 0 to {MAX_RETRIES}")
    if retry_delay < 0:
        problems.append("retry_delay must be >= 0 seconds")
    if backoff <= 0:
        problems.append("backoff must be > 0")
    if timeout is not None and timeout <= 0:
        problems.append("timeout must be > 0 seconds or None")
    if max_retry_delay is not None and max_retry_delay < 0:
        problems.append("max_retry_delay must be >= 0 seconds or None")
    if not 0 <= retry_jitter <= 10:
        problems.append("retry_jitter must be from 0 to 10 (a factor of the delay)")
    if problems:
        raise DefinitionError(
            f"operation {name!r}: {'; '.join(problems)}", operation=name
        )


def _normalize_cache(
    name: str, cache: object, expiration: float | timedelta | None
) -> float | None:
    """``cache_expiration`` in seconds; both options checked."""
    if not isinstance(cache, bool):
        raise DefinitionError(
            f"operation {name!r}: cache must be True or False, got {cache!r}; set "
            f"the expiry with cache_expiration=seconds",
            operation=name,
        )
    if expiration is None:
        return None
    if not cache:
        raise DefinitionError(
            f"operation {name!r}: cache_expiration is set but cache is off; add "
            f"cache=True or remove cache_expiration",
            operation=name,
        )
    seconds = (
        expiration.total_seconds() if isinstance(expiration, timedelta) else expiration
    )
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 < seconds < math.inf
    ):
        raise DefinitionError(
            f"operation {name!r}: cache_expiration must be a positive number of "
            f"seconds or a timedelta, got {expiration!r}",
            operation=name,
        )
    return float(seconds)


def _normalize_retry_on(
    name: str, retry_on: type[BaseException] | Sequence[type[BaseException]]
) -> tuple[type[BaseException], ...]:
    types: tuple[Any, ...] = (
        tuple(retry_on)
        if isinstance(retry_on, Sequence) and not isinstance(retry_on, str)
        else (retry_on,)
    )
    for kind in types:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise DefinitionError(
                f"operation {name!r}: retry_on must list exception classes, got "
                f"{kind!r}",
                operation=name,
            )
        if "<locals>" in kind.__qualname__:
            raise DefinitionError(
                f"operation {name!r}: retry_on class {kind.__qualname__} is defined "
                f"inside a function; define it at module level so the generated "
                f"flow can import it",
                operation=name,
            )
    return types


def _check_hook(name: str, kind: str, hook: object) -> None:
    """A hook is a module-level function of one argument: generated code imports it."""
    if hook is None:
        return
    if not inspect.isfunction(hook):
        raise DefinitionError(
            f"operation {name!r}: {kind} must be a function, got {hook!r}",
            operation=name,
        )
    if "<" in hook.__qualname__:  # a lambda, or defined inside a function
        raise DefinitionError(
            f"operation {name!r}: {kind} hook {hook.__qualname__} is not defined at "
            f"module level; define it with def at module level so the generated flow "
            f"can import it",
            operation=name,
        )
    try:
        inspect.signature(hook).bind(None)
    except TypeError:
        raise DefinitionError(
            f"operation {name!r}: {kind} hook {hook.__qualname__} must take one "
            f"argument (a pulpo.hooks."
            f"{'FailedOperation' if kind == 'on_failure' else 'CompletedOperation'})",
            operation=name,
        ) from None


def _normalize_inputs(
    name: str, inputs: ModelRef | Sequence[ModelRef] | None
) -> tuple[ModelRef, ...]:
    if inputs is None or inputs is BaseModel:
        return ()
    items = [inputs] if isinstance(inputs, type | str) else list(inputs)
    refs = tuple(_check_model_ref(name, "inputs", item) for item in items)
    if len(set(refs)) != len(refs):
        raise DefinitionError(
            f"operation {name!r}: inputs lists a datamodel twice", operation=name
        )
    return refs


def _normalize_output(name: str, outputs: ModelRef | None) -> ModelRef | None:
    if outputs is None or outputs is BaseModel:
        return None
    return _check_model_ref(name, "outputs", outputs)


def _check_model_ref(name: str, field: str, ref: object) -> ModelRef:
    if isinstance(ref, str) or (isinstance(ref, type) and issubclass(ref, BaseModel)):
        return ref
    raise DefinitionError(
        f"operation {name!r}: {field} must be @datamodel classes or their names, "
        f"got {ref!r}",
        operation=name,
    )


def _check_not_redefined(name: str, function: Any) -> None:
    """A second ``def`` of a name would silently replace the first operation.

    While a module runs, its namespace still holds the earlier function when the
    decorator of the later one runs.
    """
    module = sys.modules.get(function.__module__)
    earlier = operation_spec(getattr(module, function.__qualname__, None))
    if (
        earlier is not None
        and earlier.function is not function
        and earlier.name != name
    ):
        raise DefinitionError(
            f"operation {name!r}: function {function.__qualname__} in "
            f"{function.__module__} is already operation {earlier.name!r}; this second "
            f"def would replace it, so give one of the two functions another name",
            operation=name,
        )


def _check_function(name: str, function: Any) -> None:
    if not inspect.isfunction(inspect.unwrap(function)):
        what = (
            f"class {function.__qualname__}"
            if isinstance(function, type)
            else type(function).__name__
        )
        raise DefinitionError(
            f"operation {name!r} must decorate a function (def or async def), not "
            f"{what}",
            operation=name,
        )
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise DefinitionError(
            f"operation {name!r}: generators are not supported; return a datamodel",
            operation=name,
        )
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise DefinitionError(
                f"operation {name!r}: *args and **kwargs cannot be wired; declare each "
                f"parameter by name",
                operation=name,
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise DefinitionError(
                f"operation {name!r}: parameter {parameter.name!r} is positional-only; "
                f"pulpo passes arguments by name",
                operation=name,
            )
        if parameter.name in RESERVED_PARAMETERS:
            raise DefinitionError(
                f"operation {name!r}: parameter name {parameter.name!r} is reserved by "
                f"Prefect; rename it",
                operation=name,
            )
