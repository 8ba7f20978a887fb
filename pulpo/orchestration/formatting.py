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

    A generated module's imports are its first run of one-line ``import`` and
    ``from … import`` statements. ruff sorts that block on its own, in a small file
    (parsing whole modules twice would double the cost of a large build), and then
    formats the module with the sorted block in place.

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
    parts = {path: _split_imports(text) for path, text in python.items()}
    with tempfile.TemporaryDirectory(prefix="pulpo-format-") as scratch:
        root = Path(scratch)
        blocks = root / "imports"
        blocks.mkdir()
        # Numbered names: a block file must not shadow a module it imports.
        numbered = {path: f"block_{index}.py" for index, path in enumerate(parts)}
        for path, (_, imports, _) in parts.items():
            (blocks / numbered[path]).write_text(imports, encoding="utf-8")
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
            blocks,
        )
        modules = root / "modules"
        for path, (head, _, tail) in parts.items():
            imports = (blocks / numbered[path]).read_text(encoding="utf-8")
            target = modules / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(head + imports + tail, encoding="utf-8")
        _ruff(["format", *settings, "."], modules)
        formatted = {
            path: (modules / path).read_text(encoding="utf-8") for path in python
        }
    return {**files, **formatted}


def _split_imports(text: str) -> tuple[str, str, str]:
    """``(before, imports, after)``: the first block of one-line import statements."""
    lines = text.splitlines(keepends=True)
    first = next(
        (i for i, line in enumerate(lines) if _is_one_line_import(line)), len(lines)
    )
    last = first
    while last < len(lines) and _is_one_line_import(lines[last]):
        last += 1
    return "".join(lines[:first]), "".join(lines[first:last]), "".join(lines[last:])


def _is_one_line_import(line: str) -> bool:
    return line.startswith(("import ", "from ")) and not line.rstrip().endswith(
        ("(", "\\")
    )


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
