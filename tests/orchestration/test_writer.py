import os
from pathlib import Path

import pytest

from pulpo.orchestration.writer import swap_in


def test_swap_in_writes_new_files_and_removes_stale_ones(tmp_path: Path) -> None:
    target = tmp_path / "orchestration"
    first = swap_in(target, {"a.py": "A\n", "b.py": "B\n"})
    assert first.written == ("a.py", "b.py")
    second = swap_in(target, {"a.py": "A\n", "c.py": "C\n"})
    assert second.unchanged == ("a.py",)
    assert second.written == ("c.py",)
    assert second.removed == ("b.py",)
    assert sorted(p.name for p in target.iterdir()) == ["a.py", "c.py"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_unchanged_files_are_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "A\n"})
    before = (target / "a.py").stat()
    os.utime(target / "a.py", ns=(before.st_atime_ns, before.st_mtime_ns - 10**9))
    old_mtime = (target / "a.py").stat().st_mtime_ns
    swap_in(target, {"a.py": "A\n", "b.py": "B\n"})
    after = (target / "a.py").stat()
    assert after.st_mtime_ns == old_mtime
    assert after.st_ino == before.st_ino


def test_a_failed_write_leaves_the_previous_files(tmp_path: Path) -> None:
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "A\n"})

    class Exploding(dict):
        def items(self):  # type: ignore[override]
            yield "b.py", "B\n"
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        swap_in(target, Exploding())
    assert [p.name for p in target.iterdir()] == ["a.py"]
    assert (target / "a.py").read_text() == "A\n"
