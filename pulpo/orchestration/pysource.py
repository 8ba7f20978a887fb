"""Small helpers that turn Python values, types and names into source text.

Only fragments: layout is left to ruff (:mod:`pulpo.orchestration.formatting`).
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import keyword
import math
import sys
import types
import typing
from typing import Any


class NotRenderable(Exception):
    """The value or type has no faithful source representation."""


def py_literal(value: Any) -> str:
    """Source of a literal value, formatted as ruff would.

    Raises:
        NotRenderable: the value is not made of Python literals.
    """
    if (
        type(value) is str
        and value.isprintable()
        and not ('"' in value or "\\" in value)
    ):
        return f'"{value}"'  # the common case, without repr's round trip
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotRenderable(value)
        return repr(value)
    if isinstance(value, str | bytes):
        return _string_literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(py_literal, value)) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(map(py_literal, value))
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        items = (f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise NotRenderable(value)


def is_literal(value: Any) -> bool:
    """True when :func:`py_literal` renders ``value`` faithfully."""
    try:
        source = py_literal(value)
        return bool(
            type(ast.literal_eval(source)) is type(value)
            and ast.literal_eval(source) == value
        )
    except (NotRenderable, ValueError, SyntaxError, RecursionError):
        return False


def _string_literal(value: str | bytes) -> str:
    text = repr(value)
    prefix = "b" if isinstance(value, bytes) else ""
    body = text[len(prefix) + 1 : -1]
    quote_char = text[len(prefix)]
    has_double = ('"' in value) if isinstance(value, str) else (b'"' in value)
    if quote_char == "'" and not has_double:
        body = body.replace("\\'", "'")
        return f'{prefix}"{body}"'
    return text


class Imports:
    """Collects the imports of one module and gives each imported name a local name
    that no reserved name (a parameter, a generated definition) shadows."""

    def __init__(self, reserved: set[str] | None = None) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._modules: dict[str, str] = {}
        self._taken: set[str] = set(reserved or ())

    def name(self, module: str, attribute: str, prefer: str | None = None) -> str:
        """Import ``attribute`` from ``module``; return the name to use in code."""
        key = (module, attribute)
        if key not in self._names:
            self._names[key] = self._claim(prefer or attribute)
        return self._names[key]

    def module(self, module: str) -> str:
        """``import module`` (aliased if its name is taken); the name to use in code."""
        if module not in self._modules:
            top = module.split(".")[0]
            self._modules[module] = (
                module if "." in module or top not in self._taken else self._claim(top)
            )
            if "." not in module:
                self._taken.add(top)
        return self._modules[module]

    def reserve(self, name: str) -> str:
        """Claim a module-level name for a generated definition (made unique)."""
        return self._claim(name)

    def taken(self) -> set[str]:
        return set(self._taken)

    def statements(self) -> list[str]:
        """One import statement per line, sorted; ruff groups and wraps them."""
        plain = [
            f"import {module}" if local == module else f"import {module} as {local}"
            for module, local in sorted(self._modules.items())
        ]
        froms = [
            f"from {module} import {attribute}"
            if local == attribute
            else f"from {module} import {attribute} as {local}"
            for (module, attribute), local in sorted(self._names.items())
        ]
        return plain + froms

    def _claim(self, base: str) -> str:
        local, counter = base, 2
        while local in self._taken or keyword.iskeyword(local):
            local = f"{base}_{counter}"
            counter += 1
        self._taken.add(local)
        return local


class TypeRenderer:
    """Renders type annotations as source, importing what they name.

    Anything it cannot express faithfully becomes ``Any``.
    """

    def __init__(self, imports: Imports) -> None:
        self.imports = imports
        # By identity: equal annotations can render differently (``int | str`` equals
        # ``str | int``). The annotation is kept so that its id is not reused.
        self._rendered: dict[int, tuple[Any, str]] = {}

    def render(self, annotation: Any) -> str:
        cached = self._rendered.get(id(annotation))
        if cached is not None:
            return cached[1]
        try:
            source = self._render(annotation)
        except NotRenderable:
            source = self.imports.name("typing", "Any")
        self._rendered[id(annotation)] = (annotation, source)
        return source

    def _render(self, tp: Any) -> str:
        if tp is Any or tp is typing.Any:
            return self.imports.name("typing", "Any")
        if tp is None or tp is type(None):
            return "None"
        if isinstance(tp, type):  # a class; parameterised generics are not types
            return self._class(tp)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is typing.Union or origin is types.UnionType:
            return " | ".join(self._render(arg) for arg in args)
        if origin is typing.Literal:
            return f"{self.imports.name('typing', 'Literal')}[{', '.join(map(py_literal, args))}]"
        if origin is typing.Annotated:
            return self._render(args[0])
        if origin is not None:
            base = self._render(origin)
            if not args:
                return base
            parts = ["..." if a is Ellipsis else self._render(a) for a in args]
            return f"{base}[{', '.join(parts)}]"
        raise NotRenderable(tp)

    def _class(self, cls: type) -> str:
        module, qualname = cls.__module__, cls.__qualname__
        if module == "builtins" and getattr(builtins, qualname, None) is cls:
            return qualname
        if module == "__main__" or "." in qualname or "<" in qualname:
            raise NotRenderable(cls)
        if module in ("collections.abc", "_collections_abc"):
            if getattr(collections.abc, qualname, None) is cls:
                return self.imports.name("collections.abc", qualname)
            raise NotRenderable(cls)
        loaded = sys.modules.get(module)
        if loaded is None or getattr(loaded, qualname, None) is not cls:
            raise NotRenderable(cls)
        return self.imports.name(module, qualname)


def identifier(text: str) -> str:
    """A valid Python identifier derived from a dotted name."""
    name = text.replace(".", "_")
    return f"{name}_" if keyword.iskeyword(name) else name
