"""The build-side commands as users call them: build, compile, graph, inspect, clean."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.cli.test_errors import GOOD, assert_user_error
from tests.conftest import PULPO, MakeProject, run_pulpo


def test_build_generates_a_module_per_namespace_and_the_graph(
    make_project: MakeProject,
) -> None:
    root = make_project(
        ops=GOOD + '\n@operation(name="ping")\ndef ping() -> None: ...\n'
    )
    result = run_pulpo("build", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "built 3 flows in 3 modules" in result.stdout
    generated = root / "run_cache" / "orchestration"
    assert sorted(p.name for p in generated.iterdir()) == [
        ".build-fingerprint",  # what the build was made from (pulpo.fingerprint)
        "__init__.py",
        "graph.json",
        "graph.mmd",
        "parsing_flow.py",
        "scraping_flow.py",
        "standalones.py",
    ]
    assert "async def ping_flow()" in (generated / "standalones.py").read_text()
    assert (root / "run_cache" / ".gitignore").read_text() == "*\n"


def test_concurrent_builds_all_succeed_and_leave_one_build(
    make_project: MakeProject,
) -> None:
    """Two terminals, or a watcher and a user, building at once."""
    root = make_project(ops=GOOD)
    for _ in range(3):
        builds = [
            subprocess.Popen(
                [PULPO, "build"],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outcomes = [(b.wait(120), b.stderr.read() if b.stderr else "") for b in builds]
        for build in builds:
            for stream in (build.stdout, build.stderr):
                if stream is not None:
                    stream.close()
        assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    run_cache = root / "run_cache"
    assert (run_cache / "orchestration").is_symlink()
    assert (run_cache / "orchestration" / "scraping_flow.py").is_file()
    leftovers = [p.name for p in run_cache.iterdir() if ".new-" in p.name]
    assert leftovers == []
    assert run_pulpo("clean", cwd=root).returncode == 0
    assert [p.name for p in run_cache.iterdir() if p.name.startswith(".orch")] == []


def test_compile_and_build_write_the_same_code(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("compile", cwd=root).returncode == 0
    again = run_pulpo("build", cwd=root)
    flows, api = again.stdout.splitlines()[:2]
    assert "run_cache/orchestration/ (0 written" in flows
    assert "generated the API (0 document collections, 2 flow routes)" in api
    assert (root / "run_cache" / "api" / "app.py").is_file()


def test_project_option_works_from_anywhere(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    result = run_pulpo("-C", str(root), "build", cwd=root.parent)
    assert result.returncode == 0, result.stderr
    assert (root / "run_cache" / "orchestration" / "scraping_flow.py").exists()


def test_commands_find_the_project_from_a_subdirectory(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    assert run_pulpo("build", cwd=root / "app").returncode == 0


def test_graph_json_lists_operations_models_edges_and_flows(
    make_project: MakeProject,
) -> None:
    result = run_pulpo("graph", "--format", "json", cwd=make_project(ops=GOOD))
    data = json.loads(result.stdout)
    assert [op["name"] for op in data["operations"]] == [
        "parsing.clean",
        "scraping.fetch",
    ]
    assert data["edges"] == [
        {
            "producer": "scraping.fetch",
            "model": "Raw",
            "consumer": "parsing.clean",
            "parameter": "raw",
        }
    ]
    parsing = next(f for f in data["flows"] if f["name"] == "parsing_flow")
    # All it needs from outside is what scraping_flow runs: it awaits that flow's body.
    assert (parsing["upstream"], parsing["runs_flow"]) == ([], "scraping_flow")
    assert [(p["name"], p["required"]) for p in parsing["parameters"]] == [
        ("strict", True),
        ("keywords", False),
        ("raw", False),  # pass a Raw to skip scraping.fetch
    ]
    assert parsing["parameters"][-1]["supplies"] == "scraping.fetch"


def test_graph_mermaid_groups_namespaces(make_project: MakeProject) -> None:
    result = run_pulpo("graph", cwd=make_project(ops=GOOD))
    assert result.stdout.splitlines()[2] == "flowchart LR"
    assert 'subgraph ns_scraping["scraping"]' in result.stdout
    assert "op_scraping_fetch --> model_Raw" in result.stdout
    assert "model_Raw -->|raw| op_parsing_clean" in result.stdout


def test_inspect_shows_models_operations_and_flow_parameters(
    make_project: MakeProject,
) -> None:
    text = run_pulpo("inspect", cwd=make_project(ops=GOOD)).stdout
    assert "scraping.fetch: - → Raw  [scraping_flow]" in text
    assert "parsing_flow (1 operations): strict: bool, keywords: str = 'python'" in text
    data = json.loads(run_pulpo("inspect", "--json", cwd=make_project(ops=GOOD)).stdout)
    assert {m["name"] for m in data["models"]} == {"Raw", "Clean"}


def test_clean_removes_generated_code_and_keeps_data(make_project: MakeProject) -> None:
    root = make_project(ops=GOOD)
    run_pulpo("build", cwd=root)
    database = root / ".pulpo" / "db" / "jobs.sqlite"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"rows")

    result = run_pulpo("clean", cwd=root)

    assert "removed run_cache/orchestration" in result.stdout
    assert "removed run_cache/api" in result.stdout
    assert not (root / "run_cache" / "orchestration").exists()
    assert not (root / "run_cache" / "api").exists()
    assert "nothing to clean" in run_pulpo("clean", cwd=root).stdout
    assert run_pulpo("clean", "--all", "--yes", cwd=root).returncode == 0
    assert not (root / "run_cache").exists()
    assert database.read_bytes() == b"rows"


def test_destructive_cleans_list_what_they_delete_and_ask(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    run_pulpo("build", cwd=root)
    database = root / ".pulpo" / "db" / "jobs.sqlite"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"rows")

    piped = run_pulpo("clean", "--data", cwd=root)  # stdin is not a terminal
    refused = answer_at_a_terminal(root, "n", "clean", "--all", "--data")
    assert database.exists() and (root / "run_cache").exists()
    accepted = answer_at_a_terminal(root, "y", "clean", "--data")

    assert_user_error(piped, "nothing deleted", "--yes")
    assert ".pulpo/  3 files" in piped.stdout and "db" in piped.stdout
    assert (
        "run_cache/" in refused and ".pulpo/" in refused and "Delete these?" in refused
    )
    assert "removed .pulpo" in accepted
    assert not database.exists() and (root / "run_cache").exists()


def answer_at_a_terminal(root: Path, answer: str, *args: str) -> str:
    """Run pulpo with a pseudo-terminal as stdin and stdout; type ``answer``."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [PULPO, *args],
        cwd=root,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(follower)
    os.write(leader, f"{answer}\n".encode())
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when pulpo exits
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(leader)
    return output.decode(errors="replace")


def test_help_does_not_import_prefect() -> None:
    code = (
        "import sys\n"
        "from pulpo.cli.app import main\n"
        "sys.argv = ['pulpo', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('prefect', 'fastapi', 'beanie', 'networkx', 'jinja2', 'pydantic_settings', 'opentelemetry') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_data_an_older_pulpo_kept_in_run_cache_moves_to_the_data_directory(
    make_project: MakeProject,
) -> None:
    root = make_project(ops=GOOD)
    legacy = root / "run_cache"
    (legacy / "data" / "db").mkdir(parents=True)
    (legacy / "data" / "db" / "jobs.sqlite").write_bytes(b"rows")
    (legacy / "secrets").mkdir()
    (legacy / "secrets" / "api_key").write_text("old-key\n")

    result = run_pulpo("api", "key", cwd=root, env={"PULPO_API_KEYS": ""})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "old-key"  # the same key keeps working
    assert "moved run_cache/data/db to .pulpo/db" in result.stderr
    assert (root / ".pulpo" / "db" / "jobs.sqlite").read_bytes() == b"rows"
    assert not (legacy / "data" / "db").exists()
    assert "do not commit it" in (root / ".pulpo" / "README.md").read_text()
