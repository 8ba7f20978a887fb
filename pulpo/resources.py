"""``@resource``: clients and pools that operations receive instead of using globals.

A resource is a provider function declared once in user code: a plain function that
returns the value, or a generator (sync or async) that yields it once and cleans up
after. An operation asks for it by annotating a parameter with the type it provides,
or with ``Annotated[T, Resource("name")]``. pulpo opens each resource at most once per
flow run (``scope="run"``) or per process (``scope="process"``), only when an
operation of the run needs it, and closes it after the run, also when the run fails.

The provider's own keyword parameters are its settings: ``[tool.pulpo.resources.<name>]``
sets them, and ``PULPO_RESOURCE_<NAME>_<PARAMETER>`` overrides that. Secrets (a
parameter annotated ``SecretStr`` or named like ``api_key``, ``token``, ``password``,
``secret``) come from the environment only.
"""

from __future__ import annotations

import collections.abc
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from pulpo.errors import DefinitionError, GraphError, did_you_mean

RESOURCE_ATTR = "__pulpo_resource__"
Scope = Literal["run", "process"]
ProviderT = TypeVar("ProviderT", bound=Callable[..., Any])
_SECRET_WORDS = ("key", "token", "password", "secret", "credential")


@dataclass(frozen=True)
class Resource:
    """Marks a parameter as receiving a resource: ``Annotated[T, Resource("llm")]``."""

    name: str


@dataclass(frozen=True)
class ResourceSpec:
    """What pulpo knows about one ``@resource`` provider."""

    name: str
    provider: Callable[..., Any]
    scope: Scope
    # The type the provider gives operations (Any when it is not annotated).
    provides: Any
    # (name, annotation, default) of each setting the provider takes.
    settings: tuple[tuple[str, Any, Any], ...]

    @property
    def is_async(self) -> bool:
        return inspect.isasyncgenfunction(self.provider) or inspect.iscoroutinefunction(
            self.provider
        )

    @property
    def location(self) -> str:
        return f"{self.provider.__module__}.{self.provider.__qualname__}"

    def is_secret(self, setting: str) -> bool:
        """Whether ``setting`` may only come from the environment."""
        annotation = next((a for n, a, _ in self.settings if n == setting), None)
        if getattr(annotation, "__name__", "") == "SecretStr":
            return True
        return any(word in setting.lower() for word in _SECRET_WORDS)


@overload
def resource(provider: ProviderT, /) -> ProviderT: ...
@overload
def resource(
    *, name: str | None = None, scope: Scope = "run"
) -> Callable[[ProviderT], ProviderT]: ...
def resource(
    provider: Any = None, /, *, name: str | None = None, scope: Scope = "run"
) -> Any:
    """Declare a provider of a client, pool or service that operations can ask for.

    Args:
        provider: The function, when used as a bare ``@resource``.
        name: The resource's name in configuration and ``Resource("...")``;
            defaults to the function's name.
        scope: ``"run"`` (the default): opened once per flow run and closed after it;
            ``"process"``: opened once per process and closed when it exits. Under the
            ``processes`` and ``dask`` task runners every resource is per process.

    Returns:
        The provider itself, unchanged apart from the attached spec.

    Example:
        >>> @resource(name="llm")
        ... def llm(model: str = "small") -> Iterator[LLMClient]:
        ...     client = LLMClient(model)
        ...     yield client
        ...     client.close()
    """
    if scope not in ("run", "process"):
        raise DefinitionError(
            f"@resource scope must be 'run' or 'process', got {scope!r}"
        )

    def mark(function: ProviderT) -> ProviderT:
        if not callable(function) or isinstance(function, type):
            raise DefinitionError(
                f"@resource expects a function, generator or async generator, got "
                f"{function!r}"
            )
        resource_name = function.__name__ if name is None else name
        if not resource_name.isidentifier():
            raise DefinitionError(
                f"invalid resource name {resource_name!r}: use a Python identifier "
                f"such as 'llm'"
            )
        hints = _hints(function, resource_name)
        settings = []
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise DefinitionError(
                    f"resource {resource_name!r}: {function.__qualname__} takes "
                    f"*{parameter.name}; list each setting as a named parameter"
                )
            settings.append(
                (parameter.name, hints.get(parameter.name, Any), parameter.default)
            )
        spec = ResourceSpec(
            name=resource_name,
            provider=function,
            scope=scope,
            provides=_provided_type(function, hints.get("return", Any)),
            settings=tuple(settings),
        )
        setattr(function, RESOURCE_ATTR, spec)
        return function

    return mark if provider is None else mark(provider)


def resource_spec(obj: object) -> ResourceSpec | None:
    """The spec of a function decorated with ``@resource``, else ``None``."""
    spec = getattr(obj, RESOURCE_ATTR, None)
    return spec if isinstance(spec, ResourceSpec) and spec.provider is obj else None


def resource_of(
    operation: str,
    parameter: str,
    annotation: Any,
    resources: Mapping[str, ResourceSpec],
    by_type: Mapping[Any, tuple[str, ...]],
) -> str | None:
    """The resource a parameter asks for, or ``None`` for an ordinary parameter.

    Raises:
        GraphError: an unknown resource name, a type two resources provide, or an
            annotation the named resource does not provide.
    """
    marker, declared = _marker(annotation)
    if marker is None:
        names = by_type.get(annotation, ()) if _hashable(annotation) else ()
        if len(names) > 1:
            raise GraphError(
                f"operation {operation!r}: parameter {parameter!r} is annotated "
                f"{_show(annotation)}, which resources {', '.join(map(repr, names))} "
                f"all provide; annotate it Annotated[{_show(annotation)}, "
                f'Resource("{names[0]}")]',
                operation=operation,
                candidates=names,
            )
        return names[0] if names else None
    spec = resources.get(marker.name)
    if spec is None:
        raise GraphError(
            f"operation {operation!r}: parameter {parameter!r} asks for resource "
            f"{marker.name!r}, which is not defined{did_you_mean(marker.name, resources)}"
            f"; declare it with @resource in a module listed in [tool.pulpo] modules "
            f"(or import it into one)",
            operation=operation,
            candidates=sorted(resources),
        )
    if not _provides(spec.provides, declared):
        raise GraphError(
            f"operation {operation!r}: parameter {parameter!r} is annotated "
            f"{_show(declared)} but resource {spec.name!r} ({spec.location}) provides "
            f"{_show(spec.provides)}; annotate it {_show(spec.provides)}",
            operation=operation,
        )
    return spec.name


def resources_by_type(
    resources: Mapping[str, ResourceSpec],
) -> dict[Any, tuple[str, ...]]:
    """Provided type → the names of the resources that provide it, sorted."""
    found: dict[Any, list[str]] = {}
    for name, spec in sorted(resources.items()):
        if spec.provides is not Any and _hashable(spec.provides):
            found.setdefault(spec.provides, []).append(name)
    return {kind: tuple(names) for kind, names in found.items()}


def _marker(annotation: Any) -> tuple[Resource | None, Any]:
    if typing.get_origin(annotation) is typing.Annotated:
        declared, *extras = typing.get_args(annotation)
        for extra in extras:
            if isinstance(extra, Resource):
                return extra, declared
    return None, annotation


def _provides(provided: Any, declared: Any) -> bool:
    if provided is Any or declared is Any or provided == declared:
        return True
    return (
        isinstance(provided, type)
        and isinstance(declared, type)
        and issubclass(provided, declared)
    )


def _provided_type(function: Callable[..., Any], returns: Any) -> Any:
    """``T`` of ``Iterator[T]``, ``Generator[T, ...]``, ``AsyncIterator[T]`` … or ``T``."""
    generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(
        function
    )
    origin = typing.get_origin(returns)
    wrappers = (
        collections.abc.Iterator,
        collections.abc.Generator,
        collections.abc.AsyncIterator,
        collections.abc.AsyncGenerator,
        collections.abc.Iterable,
        collections.abc.AsyncIterable,
    )
    if generator and origin in wrappers:
        args = typing.get_args(returns)
        return args[0] if args else Any
    return Any if generator else returns


def _hints(function: Callable[..., Any], name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception as error:  # NameError etc. from user annotations
        raise DefinitionError(
            f"resource {name!r}: cannot resolve the annotations of "
            f"{function.__qualname__}: {error}; import the names they use at module "
            f"level"
        ) from None


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _show(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation).replace(
        "typing.", ""
    )
