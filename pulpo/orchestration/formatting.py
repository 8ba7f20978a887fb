"""Layout of generated Python: ruff sorts the imports and formats the code.

Templates decide what a module says; ruff decides how it is laid out, so generated
code always looks like ``ruff format`` output. All files of one build go through a
single ruff call in a scratch directory, with pulpo's own settings (``--isolated``),
never the user's configuration, so the output is the same on every machine.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from pulpo.errors import PulpoError

LINE_LENGTH = 88
TARGET_VERSION = "py311"


class FormattingError(PulpoError):
    """ruff rejected generated code: a bug in pulpo's templates, not the user's."""


def ruff_binary() -> str:
    """The ruff executable installed with pulpo."""
    from ruff.__main__ import find_ruff_bin

    return str(find_ruff_bin())


def format_python(
    files: Mapping[str, str], first_party: Iterable[str] = ()
) -> dict[str, str]:
    """Sort the imports (isort rules) and format each ``.py`` file.

    Args:
        files: Relative path to source text; other files pass through unchanged.
        first_party: Top-level package names imported as the project's own code.

    Returns:
        The same mapping with every Python file formatted.

    Raises:
        FormattingError: ruff could not parse a file (a template bug).
    """
    python = {path: text for path, text in files.items() if path.endswith(".py")}
    if not python:
        return dict(files)
    known = ", ".join(f'"{name}"' for name in sorted(set(first_party)))
    settings = [
        "--isolated",
        "--line-length",
        str(LINE_LENGTH),
        "--target-version",
        TARGET_VERSION,
    ]
    with tempfile.TemporaryDirectory(prefix="pulpo-format-") as scratch:
        root = Path(scratch)
        for path, text in python.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _ruff(
            [
                "check",
                *settings,
                "--select",
                "I",
                "--fix",
                "--exit-zero",
                "--quiet",
                "--config",
                f"lint.isort.known-first-party = [{known}]",
                ".",
            ],
            root,
        )
        _ruff(["format", *settings, "."], root)
        formatted = {path: (root / path).read_text(encoding="utf-8") for path in python}
    return {**files, **formatted}


def _ruff(arguments: list[str], cwd: Path) -> None:
    completed = subprocess.run(
        [ruff_binary(), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise FormattingError(
            f"ruff could not format the generated code (a pulpo bug; please report "
            f"it): {completed.stderr.strip() or completed.stdout.strip()}"
        )
