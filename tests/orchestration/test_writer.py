import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from pulpo.orchestration.writer import KEEP_SECONDS, build_lock, remove, swap_in


def versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_swap_in_writes_new_files_and_removes_stale_ones(tmp_path: Path) -> None:
    target = tmp_path / "orchestration"
    first = swap_in(target, {"a.py": "A\n", "b.py": "B\n"})
    assert first.written == ("a.py", "b.py")
    second = swap_in(target, {"a.py": "A\n", "c.py": "C\n"})
    assert second.unchanged == ("a.py",)
    assert second.written == ("c.py",)
    assert second.removed == ("b.py",)
    assert sorted(p.name for p in target.iterdir()) == ["a.py", "c.py"]


def age(folder: Path, seconds: float) -> None:
    for version in versions(folder):
        stat = (folder / version).lstat()
        os.utime(folder / version, (stat.st_atime, stat.st_mtime - seconds))


def test_the_previous_version_stays_for_readers_and_older_ones_go(
    tmp_path: Path,
) -> None:
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "1\n"})
    first = os.readlink(target)
    swap_in(target, {"a.py": "2\n"})
    second = os.readlink(target)
    swap_in(target, {"a.py": "3\n"})
    third = os.readlink(target)
    assert first in versions(tmp_path)  # young: a reader may still be in it
    age(tmp_path, KEEP_SECONDS)
    swap_in(target, {"a.py": "4\n"})
    assert versions(tmp_path) == sorted([third, os.readlink(target)])
    assert second not in versions(tmp_path)
    assert (target / "a.py").read_text() == "4\n"
    remove(target)
    assert list(tmp_path.iterdir()) == []


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


def test_a_write_failing_halfway_leaves_the_previous_files(tmp_path: Path) -> None:
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "A\n"})
    before = versions(tmp_path)
    # "b" is written as a file, then "b/c.py" needs it to be a directory.
    with pytest.raises(OSError):
        swap_in(target, {"a.py": "changed\n", "b": "B\n", "b/c.py": "C\n"})
    assert [p.name for p in target.iterdir()] == ["a.py"]
    assert (target / "a.py").read_text() == "A\n"
    assert versions(tmp_path) == before  # the half-written version is gone


def test_a_failing_switch_leaves_the_previous_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "A\n"})
    before = versions(tmp_path)

    def no_space(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        swap_in(target, {"a.py": "B\n"})
    assert (target / "a.py").read_text() == "A\n"
    assert [v for v in versions(tmp_path) if ".link-" not in v] == before


def _read_until_stopped(target: str, stop: Any, misses: Any) -> None:
    path = Path(target) / "a.py"
    while not stop.is_set():
        try:
            path.read_text()
        except OSError:
            with misses.get_lock():
                misses.value += 1


def test_a_reader_never_finds_the_directory_missing(tmp_path: Path) -> None:
    """The worker imports generated modules while `pulpo build` replaces them."""
    target = tmp_path / "orchestration"
    swap_in(target, {"a.py": "0\n"})
    context = multiprocessing.get_context("fork")
    stop, misses = context.Event(), context.Value("i", 0)
    reader = context.Process(
        target=_read_until_stopped, args=(str(target), stop, misses)
    )
    reader.start()
    try:
        for n in range(400):
            swap_in(target, {"a.py": f"{n}\n"})
    finally:
        stop.set()
        reader.join(30)
    assert misses.value == 0


def _build_repeatedly(run_cache: str, label: str) -> None:
    target = Path(run_cache) / "orchestration"
    for n in range(40):
        with build_lock(Path(run_cache)):
            swap_in(target, {"a.py": f"{label}{n}\n", f"{label}.py": "x\n"})


def test_concurrent_builds_take_turns(tmp_path: Path) -> None:
    run_cache = tmp_path / "run_cache"
    context = multiprocessing.get_context("fork")
    builders = [
        context.Process(target=_build_repeatedly, args=(str(run_cache), label))
        for label in ("x", "y")
    ]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join(60)
    assert [b.exitcode for b in builders] == [0, 0]
    files = sorted(p.name for p in (run_cache / "orchestration").iterdir())
    assert files in (["a.py", "x.py"], ["a.py", "y.py"])
