"""What an image installs: pulpo and the project's dependencies, pinned to the
versions installed here.

The pins come from the metadata of the installed distributions (no resolver, no
index): the image runs the versions the project was built and tested with. Markers
are evaluated for the image's Python (``environment``), which may differ from this
one (``python_full_version < "3.11.3"``); what only the image needs and is not
installed here is listed unpinned in ``extra``.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pulpo.errors import ProjectError
from pulpo.project import Project

PULPO = "pulpo"


@dataclass(frozen=True)
class Requirements:
    """Pinned distributions (``name==version``, sorted) and where pulpo's wheel comes
    from: its source tree when installed from one (editable or a local directory),
    else the pin ``pulpo==version`` like any other."""

    pins: tuple[str, ...]
    pulpo_source: Path | None
    pulpo_version: str
    extra: tuple[str, ...] = ()

    def dependencies_text(self) -> str:
        """``requirements.txt`` of the dependencies (pulpo's wheel comes apart)."""
        return "\n".join([*self.pins, *self.extra]) + "\n"

    def dependencies_key(self) -> str:
        return hashlib.sha256(self.dependencies_text().encode()).hexdigest()[:16]

    def pulpo_key(self) -> str:
        """Changes with pulpo's version and, installed from a source tree, its files."""
        digest = hashlib.sha256(self.pulpo_version.encode())
        if self.pulpo_source is not None:
            digest.update(_source_digest(self.pulpo_source).encode())
        return digest.hexdigest()[:16]


def project_requirements(
    project: Project, environment: Mapping[str, str] | None = None
) -> Requirements:
    """pulpo and the project's ``[project] dependencies``, with everything they need
    under ``environment`` (marker variables; default: this interpreter's), pinned to
    what is installed here.

    Raises:
        ProjectError: a dependency of the project is not installed here.
    """
    # A Docker worker runs in the image too (backend = "docker"): with its extra.
    docker_worker = project.settings.worker_type == "docker"
    roots = [Requirement(f"{PULPO}[docker-worker]" if docker_worker else PULPO)]
    for text in _declared(project):
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise ProjectError.bad_config(
                str(project.config_file), f"dependency {text!r} is invalid: {error}"
            ) from None
        roots.append(requirement)
    pins: dict[str, str] = {}
    extra: dict[str, str] = {}
    target: dict[str, str] = {
        **{k: str(v) for k, v in default_environment().items()},
        **(environment or {}),
    }
    _collect(roots, pins, extra, target, required_by="the project")
    version = pins.pop(PULPO)
    return Requirements(
        pins=tuple(sorted((f"{name}=={v}" for name, v in pins.items()), key=str.lower)),
        pulpo_source=_source_tree(PULPO),
        pulpo_version=version,
        extra=tuple(sorted(extra.values(), key=str.lower)),
    )


def _declared(project: Project) -> list[str]:
    if project.config_file is None:
        return []
    data = tomllib.loads(project.config_file.read_text(encoding="utf-8"))
    dependencies = data.get("project", {}).get("dependencies", [])
    return [d for d in dependencies if isinstance(d, str)]


def _collect(
    requirements: list[Requirement],
    pins: dict[str, str],
    extra: dict[str, str],
    target: Mapping[str, str],
    required_by: str,
) -> None:
    """Add each requirement (and, depth first, its own) that applies in ``target`` to
    ``pins``, or to ``extra`` when a dependency's dependency is not installed here."""
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if required_by != "the project":  # needed by the image's Python only
                extra[name] = f"{requirement.name}{requirement.specifier}"
                continue
            raise ProjectError(
                f"{requirement.name}, required by {required_by}, is not installed "
                f"here; install it (`pip install '{requirement}'`) so that the image "
                f"gets the same version"
            ) from None
        extras = sorted(requirement.extras)
        seen = pins.get(name)
        pins[name] = distribution.version
        if seen is not None and not extras:
            continue
        children = []
        for text in distribution.requires or []:
            child = Requirement(text)
            applies = child.marker is None or any(
                child.marker.evaluate({**target, "extra": wanted})
                for wanted in ["", *extras]
            )
            if applies:
                children.append(child)
        _collect(children, pins, extra, target, required_by=requirement.name)


def _source_tree(name: str) -> Path | None:
    """The local directory a distribution was installed from, if any."""
    try:
        raw = metadata.distribution(name).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    url = json.loads(raw).get("url", "")
    if not url.startswith("file://"):
        return None
    path = Path(unquote(urlparse(url).path))
    return path if (path / "pyproject.toml").is_file() else None


def _source_digest(root: Path) -> str:
    """Names, sizes and mtimes of the files a wheel of ``root`` would contain."""
    digest = hashlib.sha256()
    files = [root / "pyproject.toml"]
    for folder in ("pulpo", "templates"):
        files += sorted(p for p in (root / folder).rglob("*") if p.is_file())
    for path in files:
        if "__pycache__" in path.parts:
            continue
        stat = path.stat()
        digest.update(
            f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()
