"""Dotted operation names as a hierarchy of namespaces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParsedName:
    """An operation name split into its parts.

    ``scraping.linkedin.fetch`` has segments ``("scraping", "linkedin", "fetch")``,
    parent ``scraping.linkedin`` and namespaces ``("scraping", "scraping.linkedin")``.
    """

    name: str
    segments: tuple[str, ...]

    @property
    def parent(self) -> str | None:
        return ".".join(self.segments[:-1]) or None

    @property
    def level(self) -> int:
        return len(self.segments) - 1

    @property
    def leaf(self) -> str:
        return self.segments[-1]

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every proper prefix, outermost first."""
        return tuple(".".join(self.segments[:i]) for i in range(1, len(self.segments)))


class HierarchyParser:
    """Answers questions about where a dotted name sits in the hierarchy."""

    def parse(self, name: str) -> ParsedName:
        return ParsedName(name=name, segments=tuple(name.split(".")))

    def get_parent(self, name: str) -> str | None:
        return self.parse(name).parent

    def get_level(self, name: str) -> int:
        return self.parse(name).level

    def is_standalone(self, name: str) -> bool:
        return "." not in name

    def is_leaf(self, name: str, names: set[str] | frozenset[str]) -> bool:
        """True when no other name in ``names`` lives under ``name``."""
        prefix = name + "."
        return not any(other.startswith(prefix) for other in names)

    def namespaces(self, names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """All namespaces that the given names imply, sorted."""
        return tuple(
            sorted({ns for name in names for ns in self.parse(name).namespaces})
        )


def flow_name(namespace_or_operation: str) -> str:
    """Name of the flow for a namespace or standalone operation: dots become ``_``."""
    return namespace_or_operation.replace(".", "_") + "_flow"


def is_within(name: str, namespace: str) -> bool:
    """True when ``name`` lies under ``namespace`` (the namespace itself excluded)."""
    return name.startswith(namespace + ".")
