"""Layout of generated Python: ruff sorts the imports and formats the code.

Templates decide what a module says; ruff decides how it is laid out, so generated
code always looks like ``ruff format`` output. All files of one build go through the
same two ruff runs in a scratch directory, with pulpo's own settings (``--isolated``),
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
SETTINGS = (
    "--isolated",
    "--no-cache",  # the scratch directory is deleted afterwards
    "--line-length",
    str(LINE_LENGTH),
    "--target-version",
    TARGET_VERSION,
)


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
    with FormatJob(files, first_party) as job:
        return job.result()


class FormatJob:
    """:func:`format_python` in steps, so that ruff works while the caller goes on.

    A generated module's imports are its first run of one-line ``import`` and
    ``from … import`` statements. ruff sorts those blocks on their own, in small
    files (parsing whole modules twice would double the cost of a large build), and
    then formats the modules with the sorted blocks in place. Each ruff run is a
    subprocess, so it uses another core: creating the job starts the sort,
    :meth:`format` waits for it and starts the formatting, :meth:`result` waits for
    that. All file work stays in the caller's thread.
    """

    def __init__(self, files: Mapping[str, str], first_party: Iterable[str] = ()):
        self._files = dict(files)
        self._python = [path for path in files if path.endswith(".py")]
        self._scratch = tempfile.TemporaryDirectory(prefix="pulpo-format-")
        self._root = Path(self._scratch.name)
        self._running: subprocess.Popen[str] | None = None
        self._formatting = False
        self._parts = {path: _split_imports(files[path]) for path in self._python}
        # Numbered names: a block file must not shadow a module it imports.
        self._blocks = {
            path: f"block_{index}.py" for index, path in enumerate(self._parts)
        }
        if not self._python:
            return
        blocks = self._root / "imports"
        blocks.mkdir()
        for path, (_, imports, _) in self._parts.items():
            (blocks / self._blocks[path]).write_text(imports, encoding="utf-8")
        known = ", ".join(f'"{name}"' for name in sorted(set(first_party)))
        self._running = _start_ruff(
            [
                "check",
                *SETTINGS,
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

    def __enter__(self) -> FormatJob:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._running is not None and self._running.poll() is None:
            self._running.kill()
            self._running.wait()
        self._scratch.cleanup()

    def format(self) -> None:
        """Wait for the sorted imports and start formatting the modules."""
        if self._formatting or not self._python:
            return
        _finish(self._running)
        blocks, modules = self._root / "imports", self._root / "modules"
        for path, (head, _, tail) in self._parts.items():
            imports = (blocks / self._blocks[path]).read_text(encoding="utf-8")
            target = modules / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(head + imports + tail, encoding="utf-8")
        self._running = _start_ruff(["format", *SETTINGS, "."], modules)
        self._formatting = True

    def result(self) -> dict[str, str]:
        """Every file, the Python ones formatted (waits for ruff)."""
        if not self._python:
            return dict(self._files)
        self.format()
        _finish(self._running)
        modules = self._root / "modules"
        formatted = {
            path: (modules / path).read_text(encoding="utf-8") for path in self._python
        }
        return {**self._files, **formatted}


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


def _start_ruff(arguments: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ruff_binary(), *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str] | None) -> None:
    """Wait for ``process``; a failure is a :class:`FormattingError`."""
    if process is None:
        return
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise FormattingError(
            f"ruff could not format the generated code (a pulpo bug; please report "
            f"it): {stderr.strip() or stdout.strip()}"
        )
