"""The one Jinja environment used for every generated file."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jinja2

from pulpo.orchestration.pysource import py_literal


def template_dir() -> Path:
    """Where the templates are: inside the installed wheel, or at the repository top."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"pulpo's templates are missing (looked beside {package})")


@cache
def environment() -> jinja2.Environment:
    """Jinja settings for Python source: no autoescape, strict undefined, exact lines."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["py"] = py_literal
    # JSON, which YAML reads too, without tojson's HTML escaping of quotes.
    env.filters["json"] = json.dumps
    return env


def render(template: str, **context: object) -> str:
    return environment().get_template(template).render(**context)
