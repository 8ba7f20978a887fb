"""User mistakes: one clear message naming the culprit, exit 1, no traceback, no damage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import MakeProject, Result, run_pulpo
from tests.e2e.conftest import free_port

MODELS = """
from pydantic import BaseModel
from pulpo import datamodel, operation

@datamodel
class Raw(BaseModel):
    items: list[str] = []

@datamodel
class Clean(BaseModel):
    items: list[str] = []
"""

GOOD = (
    MODELS
    + """
@operation(name="scraping.fetch", outputs=Raw)
def fetch(keywords: str = "python") -> Raw:
    return Raw(items=[keywords])

@operation(name="parsing.clean", inputs=Raw, outputs=Clean)
def clean(raw: Raw, strict: bool) -> Clean:
    return Clean(items=raw.items)
"""
)


WITHOUT_DAC_OVERRIDE = (
    ["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override"]
    if os.geteuid() == 0
    else []
)


def file_contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def assert_user_error(result: Result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_outside_a_project(tmp_path: Path) -> None:
    assert_user_error(
        run_pulpo("build", cwd=tmp_path), "no pulpo project found", "[tool.pulpo]"
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("[tool.pulpo]\nmodules = []\n", "modules must be a non-empty list"),
        (
            '[tool.pulpo]\nmodule = ["app.ops"]\n',
            "unknown key 'module' (did you mean 'modules'?)",
        ),
        ("[tool.pulpo\nmodules = 1\n", "not valid TOML"),
    ],
)
def test_bad_config(make_project: MakeProject, config: str, fragment: str) -> None:
    root = make_project(ops=GOOD, pyproject=config)
    assert_user_error(run_pulpo("build", cwd=root), "pyproject.toml", fragment)


def test_missing_module(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD, modules=["app.opps"])
    assert_user_error(
        run_pulpo("build", cwd=root), "cannot import 'app.opps'", "[tool.pulpo]"
    )


def test_import_error_points_at_the_file_and_line(make_project: MakeProject) -> None:
    root = make_project(ops="import os\n\nvalue = undefined_name\n")
    assert_user_error(
        run_pulpo("build", cwd=root), "app/ops.py:3", "NameError", "undefined_name"
    )


def test_syntax_error_points_at_the_file_and_line(make_project: MakeProject) -> None:
    root = make_project(ops="def broken(:\n    pass\n")
    assert_user_error(run_pulpo("build", cwd=root), "app/ops.py:1", "SyntaxError")


def test_invalid_operation_name_points_at_the_decorator(
    make_project: MakeProject,
) -> None:
    root = make_project(
        ops=MODELS + '\n@operation(name="scraping.fetch-all")\ndef f() -> None: ...\n'
    )
    assert_user_error(
        run_pulpo("build", cwd=root),
        "app/ops.py:13",
        "invalid operation name 'scraping.fetch-all'",
    )


def test_duplicate_operation_names(make_project: MakeProject) -> None:
    dup = (
        GOOD
        + '\n@operation(name="scraping.fetch", outputs=Raw)\ndef fetch_again() -> Raw: ...\n'
    )
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=dup)),
        "'scraping.fetch' is used twice",
        "fetch_again",
    )


def test_a_function_name_defined_twice_is_an_error_not_a_lost_operation(
    make_project: MakeProject,
) -> None:
    twice = GOOD + '\n@operation(name="scraping.fetch_more")\ndef fetch() -> Raw: ...\n'
    root = make_project(ops=twice)
    lines = (root / "app" / "ops.py").read_text().splitlines()
    line = lines.index('@operation(name="scraping.fetch_more")') + 1
    assert_user_error(
        run_pulpo("build", cwd=root),
        f"app/ops.py:{line}:",
        "'scraping.fetch_more': function fetch in app.ops is already operation "
        "'scraping.fetch'",
        "another name",
    )


def test_operation_on_a_class_is_an_error(make_project: MakeProject) -> None:
    on_class = GOOD + '\n@operation(name="scraping.store")\nclass Store: ...\n'
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=on_class)),
        "operation 'scraping.store' must decorate a function",
        "not class Store",
    )


def test_a_project_without_operations_is_an_error_and_keeps_its_build(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root).returncode == 0
    (root / "app" / "ops.py").write_text(MODELS)
    assert_user_error(
        run_pulpo("build", cwd=root), "no operations found in app.ops", "@operation"
    )
    assert (root / "run_cache" / "orchestration" / "scraping_flow.py").is_file()


def test_unknown_model_suggests_the_close_one(make_project: MakeProject) -> None:
    ops = (
        MODELS
        + '\n@operation(name="report", inputs="Claen")\ndef report(c: Clean) -> None: ...\n'
    )
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=ops)),
        "unknown datamodel 'Claen'",
        "did you mean 'Clean'",
    )


def test_ambiguous_fan_in(make_project: MakeProject) -> None:
    ops = (
        GOOD
        + '\n@operation(name="scraping.other", outputs=Raw)\ndef other() -> Raw: ...\n'
    )
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=ops)),
        "parameter 'raw'",
        "scraping.fetch, scraping.other",
        "list[Raw]",
    )


def test_cycle_prints_the_path(make_project: MakeProject) -> None:
    ops = (
        MODELS
        + """
@operation(name="a.one", inputs=Clean, outputs=Raw)
def one(clean: Clean) -> Raw: ...

@operation(name="a.two", inputs=Raw, outputs=Clean)
def two(raw: Raw) -> Clean: ...
"""
    )
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=ops)),
        "a.one → Raw → a.two → Clean → a.one",
    )


def test_a_failed_build_leaves_the_previous_output_intact(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root).returncode == 0
    generated = root / "run_cache" / "orchestration"
    before = file_contents(generated)
    (root / "app" / "ops.py").write_text(GOOD + "\nbroken = (\n")
    assert_user_error(run_pulpo("build", cwd=root), "SyntaxError")
    after = file_contents(generated)
    assert after == before


def test_unknown_flow_lists_flows_and_suggests(make_project: MakeProject) -> None:
    result = run_pulpo("prefect", "run", "scrapping_flow", cwd=make_project(ops=GOOD))
    assert_user_error(
        result,
        "unknown flow 'scrapping_flow'",
        "did you mean 'scraping_flow'",
        "parsing_flow",
    )


def test_runs_from_an_unchanged_build_still_check_flows_and_parameters(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root).returncode == 0
    generated = root / "run_cache" / "orchestration"
    inode = generated.stat().st_ino
    # Checked before any Prefect server is chosen or started; this port stays unused.
    env = {"PREFECT_API_URL": "", "PULPO_PREFECT_PORT": str(free_port())}

    def run(*args: str) -> Result:
        return run_pulpo("prefect", "run", *args, cwd=root, env=env)

    assert_user_error(
        run("scrapping_flow"), "unknown flow 'scrapping_flow'", "did you mean"
    )
    assert_user_error(run("parsing_flow"), "needs parameter 'strict'", "parsing.clean")
    assert_user_error(
        run("parsing_flow", "-p", "strict=maybe"),
        "invalid value 'maybe' for parameter 'strict' of flow 'parsing_flow'",
    )
    assert_user_error(
        run("scraping_flow", "-p", "keyword=go"), "did you mean 'keywords'"
    )
    assert generated.stat().st_ino == inode  # none of them rebuilt


def test_missing_required_parameter(make_project: MakeProject) -> None:
    result = run_pulpo("prefect", "run", "parsing_flow", cwd=make_project(ops=GOOD))
    assert_user_error(
        result, "needs parameter 'strict'", "parsing.clean", "--param strict="
    )


def test_malformed_param(make_project: MakeProject) -> None:
    result = run_pulpo(
        "prefect",
        "run",
        "scraping_flow",
        "--param",
        "keywords",
        cwd=make_project(ops=GOOD),
    )
    assert_user_error(result, "malformed --param 'keywords'", "name=value")


def test_unknown_param(make_project: MakeProject) -> None:
    result = run_pulpo(
        "prefect",
        "run",
        "scraping_flow",
        "-p",
        "keyword=go",
        cwd=make_project(ops=GOOD),
    )
    assert_user_error(result, "no parameter 'keyword'", "did you mean 'keywords'")


def test_sys_exit_in_a_user_module_is_an_error_not_a_silent_exit(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD + "\nimport sys\nsys.exit(3)\n")
    assert_user_error(
        run_pulpo("build", cwd=root), "'app.ops' called sys.exit(3)", "__main__"
    )


def test_a_missing_package_is_not_reported_as_a_wrong_modules_entry(
    make_project: MakeProject,
) -> None:
    root = make_project(ops="import ap\n" + GOOD)  # "app.ops" starts with "ap"
    assert_user_error(
        run_pulpo("build", cwd=root),
        "cannot import 'app.ops' (app/ops.py:1)",
        "No module named 'ap'",
    )


def test_outputs_that_disagree_with_the_return_annotation_fail_the_build(
    make_project: MakeProject,
) -> None:
    wrong = MODELS + (
        '\n@operation(name="scraping.fetch", outputs=Raw)\n'
        "def fetch() -> Clean:\n    return Clean()\n"
    )
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=wrong)),
        "operation 'scraping.fetch': outputs=Raw",
        "annotated to return Clean",
    )


def test_run_cache_that_is_a_file_is_reported_and_kept(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    (root / "run_cache").write_text("my notes\n")
    assert_user_error(
        run_pulpo("build", cwd=root), "run_cache is a file", "move it away"
    )
    assert_user_error(
        run_pulpo("clean", "--all", "--yes", cwd=root), "run_cache is a file"
    )
    assert (root / "run_cache").read_text() == "my notes\n"


def test_a_read_only_run_cache_is_one_line_and_keeps_the_build(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root).returncode == 0
    orchestration = root / "run_cache" / "orchestration"
    before = file_contents(orchestration)
    (root / "app" / "ops.py").write_text(GOOD + "\n# changed\n")
    folders = (root / "run_cache", orchestration)
    for folder in folders:
        folder.chmod(0o555)
    try:  # as root too: without the capability that ignores file modes
        result = run_pulpo(
            "--project", str(root), "build", cwd=root, wrapper=WITHOUT_DAC_OVERRIDE
        )
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert_user_error(result, "cannot write generated code to", "Permission denied")
    after = file_contents(orchestration)
    assert after == before


def test_an_operation_name_python_would_normalise_is_rejected(
    make_project: MakeProject,
) -> None:
    ops = MODELS + '\n@operation(name="\ufb01les.read")\ndef read() -> Raw: ...\n'
    assert_user_error(
        run_pulpo("build", cwd=make_project(ops=ops)),
        "invalid operation name '\ufb01les.read'",
        "write 'files.read'",
    )
